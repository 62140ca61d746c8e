"""API shapes for identity."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Me(BaseModel):
    user_id: int | None
    username: str
    display_name: str
    org_id: int | None
    org_name: str
    org_kind: str
    roles: list[str]
    token_scopes: list[str] | None


class TokenIn(BaseModel):
    name: str = Field(max_length=100)
    scopes: list[str]
    days: int = 90


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="shown once; store it safely")


class OrgOut(BaseModel):
    id: int
    name: str
    short_name: str
    kind: str
    uscc: str
    parent_id: int | None
