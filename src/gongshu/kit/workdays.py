"""PRC working days (工作日) with 调休, plus authority-maintained overrides.

``chinese-calendar`` knows the State Council schedules it was released with
(2004–2026 in 1.11) and raises for other years.  The authority fills an override
table for the years it does not know yet (from the State Council notice published
each November) and may correct single days.  A date in a year that neither knows is
an explicit :class:`~gongshu.errors.CalendarUnknown` error — never a silent
calendar-day count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

import chinese_calendar

from gongshu.errors import CalendarUnknown, Invalid

#: years the packaged calendar covers (probed once, not hard-coded)
_PACKAGED_YEARS: frozenset[int] = frozenset(
    d.year for d in list(chinese_calendar.holidays) + list(chinese_calendar.workdays)
)


def packaged_years() -> frozenset[int]:
    return _PACKAGED_YEARS


class WorkCalendar:
    """Working-day arithmetic over the packaged calendar plus overrides.

    ``overrides`` maps a day to True (working day) / False (day off).
    ``declared_years`` are years the authority has loaded completely: in them every
    day not overridden follows the plain Monday–Friday rule.
    """

    def __init__(self, overrides: Mapping[date, bool] | None = None, declared_years: Iterable[int] = ()) -> None:
        self.overrides = dict(overrides or {})
        self.declared_years = frozenset(declared_years)

    def knows_year(self, year: int) -> bool:
        return year in self.declared_years or year in _PACKAGED_YEARS

    def is_workday(self, day: date) -> bool:
        if day in self.overrides:
            return self.overrides[day]
        if day.year in self.declared_years:
            return day.weekday() < 5
        if day.year in _PACKAGED_YEARS:
            return chinese_calendar.is_workday(day)
        raise CalendarUnknown(
            f"{day.year} 年的工作日安排尚未录入（内置日历覆盖 {min(_PACKAGED_YEARS)}–{max(_PACKAGED_YEARS)} 年）。"
            f"请由数据主管部门在“日历调整”中录入国务院办公厅公布的 {day.year} 年节假日安排后再计算期限。",
            f"No working-day calendar is known for {day.year} (the built-in calendar covers "
            f"{min(_PACKAGED_YEARS)}–{max(_PACKAGED_YEARS)}). The authority must enter the State Council "
            f"holiday schedule for {day.year} under Calendar overrides before deadlines can be computed.",
            field="date",
        )

    def add_workdays(self, start: date, days: int) -> date:
        """The day on which ``days`` working days after ``start`` have elapsed.

        Counting starts on the day after ``start`` (the event day does not count), so
        a 5-working-day deadline from a Friday submission falls on the next Friday.
        """
        if days < 0:
            raise Invalid("工作日数不能为负数", "The number of working days cannot be negative", field="days")
        day = start
        left = days
        while left > 0:
            day += timedelta(days=1)
            if self.is_workday(day):
                left -= 1
        return day

    def workdays_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative when end is before start."""
        if end == start:
            return 0
        sign = 1
        if end < start:
            start, end, sign = end, start, -1
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            if self.is_workday(day):
                count += 1
        return sign * count


def year_template(year: int) -> dict[date, bool]:
    """Weekend days of ``year`` as days off: the skeleton an override year starts from."""
    day = date(year, 1, 1)
    out: dict[date, bool] = {}
    while day.year == year:
        out[day] = day.weekday() < 5
        day += timedelta(days=1)
    return out
