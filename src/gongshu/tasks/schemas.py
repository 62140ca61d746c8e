"""API shapes for the inbox and the calendar."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel


class TaskOut(BaseModel):
    id: int
    kind: str
    title: str
    subject_type: str
    subject_id: str
    assignee_org_id: int
    assignee_role: str | None
    due_date: date
    workdays: int
    basis: str
    status: str
    overdue: bool
    workdays_left: int | None = None


class OverrideIn(BaseModel):
    day: date
    is_workday: bool
    note: str = ""


class YearIn(BaseModel):
    year: int
    source: str
    holidays: list[date]
    workdays: list[date] = []


class DeadlineOut(BaseModel):
    start: date
    workdays: int
    due: date
