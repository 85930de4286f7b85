"""Recurring series: exchangelib's Recurrence ⇄ the engine's `Recurrence`, and the weekday numbering between them."""

from __future__ import annotations

from datetime import date
from typing import Any

from exchangelib import EWSDate, EWSTimeZone
from exchangelib.recurrence import (
    AbsoluteMonthlyPattern,
    AbsoluteYearlyPattern,
    DailyPattern,
    EndDatePattern,
    NumberedPattern,
    RelativeMonthlyPattern,
    RelativeYearlyPattern,
    WeeklyPattern,
)
from exchangelib.recurrence import Recurrence as EwsRecurrence

from sync.engine.recurrence import DAYS, INSTANCES, Recurrence

# Read for masters when series are synced as series: the pattern, its zone, and whether any occurrence was changed.
SERIES_FIELDS = ("recurrence", "modified_occurrences", "deleted_occurrences", "last_occurrence", "_start_timezone")
_EWS_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")  # exchangelib 1..7
_DAY_GROUPS = {8: DAYS, 9: ("MO", "TU", "WE", "TH", "FR"), 10: ("SA", "SU")}  # Day, Weekday, WeekendDay


def ews_zone(name: str | None) -> EWSTimeZone:
    try:
        return EWSTimeZone(name) if name and name not in ("GMT", "UTC") else EWSTimeZone("UTC")
    except Exception:  # noqa: BLE001 - an unknown zone name: keep UTC rather than fail the write
        return EWSTimeZone("UTC")


def _weekday_number(value: Any) -> int:
    if isinstance(value, str):
        names = (*_EWS_WEEKDAYS, "Day", "Weekday", "WeekendDay")
        return names.index(value) + 1
    return int(value)


def _days_of(value: Any) -> tuple[str, ...]:
    number = _weekday_number(value)
    return _DAY_GROUPS.get(number) or (DAYS[number - 1],)


def recurrence_from_ews(item: Any) -> Recurrence | None:
    """A master's recurrence in canonical form; None for patterns Salesforce has no equivalent of (or none)."""
    recurrence = getattr(item, "recurrence", None)
    if recurrence is None or recurrence.pattern is None or recurrence.boundary is None:
        return None
    pattern, boundary = recurrence.pattern, recurrence.boundary
    tz_field = getattr(item, "_start_timezone", None)
    tz = getattr(tz_field, "key", None) or None
    ending: dict[str, Any] = {}
    if isinstance(boundary, EndDatePattern):
        ending["until"] = boundary.end
    elif isinstance(boundary, NumberedPattern):
        ending["count"] = boundary.number
    try:
        if isinstance(pattern, DailyPattern):
            return Recurrence.of("daily", interval=pattern.interval, tz=tz, **ending)
        if isinstance(pattern, WeeklyPattern):
            days = [d for value in pattern.weekdays or () for d in _days_of(value)]
            return Recurrence.of("weekly", interval=pattern.interval, days=days, tz=tz, **ending)
        if isinstance(pattern, AbsoluteMonthlyPattern):
            return Recurrence.of("monthly", interval=pattern.interval, day=pattern.day_of_month, tz=tz, **ending)
        if isinstance(pattern, RelativeMonthlyPattern):
            return Recurrence.of("monthly_nth", interval=pattern.interval, days=_days_of(pattern.weekday),
                                 instance=INSTANCES[int(pattern.week_number) - 1], tz=tz, **ending)
        if isinstance(pattern, AbsoluteYearlyPattern):
            return Recurrence.of("yearly", month=int(pattern.month), day=pattern.day_of_month, tz=tz, **ending)
        if isinstance(pattern, RelativeYearlyPattern):
            return Recurrence.of("yearly_nth", month=int(pattern.month), days=_days_of(pattern.weekday),
                                 instance=INSTANCES[int(pattern.week_number) - 1], tz=tz, **ending)
    except (ValueError, TypeError, IndexError):
        return None
    return None


def _ews_weekday(days: tuple[str, ...]) -> int:
    """One exchangelib weekday value for a relative pattern's days (a day, or Day / Weekday / WeekendDay)."""
    if len(days) == 1:
        return DAYS.index(days[0]) + 1
    for number, group in _DAY_GROUPS.items():
        if tuple(days) == group:
            return number
    raise ValueError(f"Exchange has no relative pattern on {','.join(days)}")


def recurrence_to_ews(series: Recurrence, first: date) -> EwsRecurrence:
    if series.pattern == "daily":
        pattern: Any = DailyPattern(interval=series.interval)
    elif series.pattern == "weekly":
        pattern = WeeklyPattern(interval=series.interval, weekdays=[DAYS.index(d) + 1 for d in series.days],
                                first_day_of_week=7)
    elif series.pattern == "monthly":
        pattern = AbsoluteMonthlyPattern(interval=series.interval, day_of_month=series.day)
    elif series.pattern == "monthly_nth":
        pattern = RelativeMonthlyPattern(interval=series.interval, weekday=_ews_weekday(series.days),
                                         week_number=INSTANCES.index(series.instance or "first") + 1)
    elif series.pattern == "yearly":
        pattern = AbsoluteYearlyPattern(day_of_month=series.day, month=series.month)
    else:
        pattern = RelativeYearlyPattern(weekday=_ews_weekday(series.days), month=series.month,
                                        week_number=INSTANCES.index(series.instance or "first") + 1)
    start = EWSDate(first.year, first.month, first.day)
    if series.until is not None:
        until = series.until
        return EwsRecurrence(pattern=pattern, start=start, end=EWSDate(until.year, until.month, until.day))
    if series.count is not None:
        return EwsRecurrence(pattern=pattern, start=start, number=series.count)
    return EwsRecurrence(pattern=pattern, start=start)
