"""Working days (工作日) with 调休, overrides, and explicit errors for unknown years (R-CAT-4 deadlines)."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gongshu.errors import CalendarUnknown, Invalid
from gongshu.kit import workdays
from gongshu.kit.workdays import (
    STATUTORY_SINCE,
    WorkCalendar,
    packaged_years,
    statutory_holidays,
    year_template,
)

CAL = WorkCalendar()
days_2005_2025 = st.dates(min_value=date(2005, 1, 1), max_value=date(2025, 11, 30))


def test_national_day_2025_with_adjusted_weekends():
    assert CAL.is_workday(date(2025, 9, 28))  # Sunday, 调休
    assert CAL.is_workday(date(2025, 10, 11))  # Saturday, 调休
    assert not CAL.is_workday(date(2025, 10, 3))
    assert CAL.add_workdays(date(2025, 9, 26), 10) == date(2025, 10, 16)


def test_five_working_days_from_friday_is_next_friday():
    assert CAL.add_workdays(date(2024, 3, 8), 5) == date(2024, 3, 15)


def test_unknown_year_is_an_explained_error(monkeypatch):
    # as on the packaged calendar 1.11 (to 2026), whatever a newer release knows
    monkeypatch.setattr(workdays, "_PACKAGED_YEARS", frozenset(y for y in packaged_years() if y < 2027))
    with pytest.raises(CalendarUnknown) as e:
        CAL.add_workdays(date(2026, 12, 24), 10)
    assert "2027" in e.value.message and "2027" in e.value.message_en


def test_declared_year_uses_overrides():
    overrides = {date(2027, 1, 1): False, date(2027, 2, 6): True}
    cal = WorkCalendar(overrides, [2027])
    assert not cal.is_workday(date(2027, 1, 1))  # a Friday holiday
    assert cal.is_workday(date(2027, 2, 6))  # a Saturday working day
    assert cal.add_workdays(date(2026, 12, 31), 1) == date(2027, 1, 4)


def test_override_wins_over_packaged_calendar():
    cal = WorkCalendar({date(2025, 10, 16): False})
    assert cal.add_workdays(date(2025, 9, 26), 10) == date(2025, 10, 17)


@given(days_2005_2025, st.integers(min_value=0, max_value=40))
def test_deadline_is_a_working_day_after_start(start, n):
    due = CAL.add_workdays(start, n)
    if n == 0:
        assert due == start
    else:
        assert due > start and CAL.is_workday(due)
        assert CAL.workdays_between(start, due) == n


@given(days_2005_2025, st.integers(min_value=1, max_value=30), st.integers(min_value=1, max_value=30))
def test_deadlines_compose(start, a, b):
    assert CAL.add_workdays(CAL.add_workdays(start, a), b) == CAL.add_workdays(start, a + b)


@given(days_2005_2025, st.integers(min_value=1, max_value=30))
def test_never_fewer_calendar_days_than_working_days(start, n):
    assert (CAL.add_workdays(start, n) - start) >= timedelta(days=n)


def test_year_template_marks_weekends():
    t = year_template(2027)
    assert len(t) == 365 and t[date(2027, 1, 2)] is False and t[date(2027, 1, 4)] is True


@pytest.mark.parametrize("year", sorted(y for y in packaged_years() if y >= STATUTORY_SINCE))
def test_statutory_holidays_are_days_off_in_the_state_council_schedules(year):
    """The 13 days of the 2024 放假办法 derived from the lunar calendar and the solar term are all days off
    in every packaged State Council schedule since the revision took effect (R-CAT-4: deadlines)."""
    days = statutory_holidays(year)
    assert len(days) == 13 and all(d.year == year for d, _ in days)
    assert all(d in chinese_calendar.holidays for d, _ in days), [d for d, _ in days if d not in chinese_calendar.holidays]


def test_statutory_holidays_of_a_year_not_yet_scheduled():
    days = dict(statutory_holidays(2027))
    assert days[date(2027, 2, 5)] == "春节（除夕）" and days[date(2027, 2, 8)] == "春节（正月初三）"
    assert days[date(2027, 4, 5)] == "清明节" and days[date(2027, 6, 9)] == "端午节" and days[date(2027, 9, 15)] == "中秋节"
    assert "适逢周末" in days[date(2027, 2, 6)]  # a Saturday: the make-up day is the notice's to set
    shared = dict(statutory_holidays(2028))[date(2028, 10, 3)]  # 中秋 on 3 October: one day, both named
    assert "中秋节" in shared and "国庆节" in shared and len(statutory_holidays(2028)) == 12
    with pytest.raises(Invalid):
        statutory_holidays(2024)  # before the revision: 11 days, other rules
