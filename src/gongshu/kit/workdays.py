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


#: 《全国年节及纪念日放假办法》 (as revised by the State Council on 2024-11-12, in force 2025-01-01),
#: article 2: the holidays of all citizens — 13 days. Lunar days are (month, day) of the lunar year.
STATUTORY_SINCE = 2025


def statutory_holidays(year: int) -> list[tuple[date, str]]:
    """The 13 statutory holidays of ``year`` under the 2024 revision of the 放假办法: 元旦 1 January;
    春节 农历除夕 and 正月初一–初三; 清明节 (the day of the solar term); 劳动节 1–2 May; 端午节 农历五月初五;
    中秋节 农历八月十五; 国庆节 1–3 October.

    These are fixed by law; what the State Council's yearly notice adds — the days made up when a
    holiday falls on a weekend (补假), the bridging days off and the weekend working days (调休) — is not
    here: the authority enters them from the notice. Lunar dates from ``lunardate``, the solar term
    from ``chinese_calendar``."""
    from lunardate import LunarDate

    if not STATUTORY_SINCE <= year <= 2099:
        raise Invalid(f"只能按现行放假办法推算 {STATUTORY_SINCE}–2099 年的法定节假日",
                      f"Statutory holidays can be derived for {STATUTORY_SINCE}-2099 under the current rules",
                      field="year")
    spring = LunarDate(year, 1, 1).to_solar_date()
    qingming = next(d for d, name in chinese_calendar.get_solar_terms(date(year, 4, 1), date(year, 4, 10))
                    if name == "清明")
    days = [(date(year, 1, 1), "元旦"), (spring - timedelta(days=1), "春节（除夕）")]
    days += [(spring + timedelta(days=n), f"春节（正月初{'一二三'[n]}）") for n in range(3)]
    days += [(qingming, "清明节"), (date(year, 5, 1), "劳动节"), (date(year, 5, 2), "劳动节"),
             (LunarDate(year, 5, 5).to_solar_date(), "端午节"), (LunarDate(year, 8, 15).to_solar_date(), "中秋节")]
    days += [(date(year, 10, n), "国庆节") for n in (1, 2, 3)]
    names: dict[date, list[str]] = {}
    for d, note in days:  # two holidays on one day (中秋 on 1–3 October): one day off, both named
        names.setdefault(d, []).append(note)
    out = []
    for d in sorted(names):
        note = "、".join(names[d])
        if len(names[d]) > 1:
            note += "（同日，另行安排的假日见国务院办公厅通知）"
        elif d.weekday() >= 5:
            note += "（适逢周末，补假日期见国务院办公厅通知）"
        out.append((d, note))
    return out
