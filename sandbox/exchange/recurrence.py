"""Expansion of EWS recurrence patterns (RecurrenceType) into occurrences, in the series' own time zone."""

import calendar as cal
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sandbox.exchange.soap import EwsError, child, local

try:  # exchangelib ships the CLDR Windows <-> IANA time zone table; it is a dependency of the product anyway.
    from exchangelib.winzone import MS_TIMEZONE_TO_IANA_MAP
except ImportError:  # pragma: no cover
    MS_TIMEZONE_TO_IANA_MAP = {}

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
INDEXES = {"First": 0, "Second": 1, "Third": 2, "Fourth": 3, "Last": -1}
MAX_DAYS = 366 * 60
MAX_OCCURRENCES = 5000


def zone(ms_id: str | None):
    if not ms_id or ms_id == "UTC":
        return UTC
    name = MS_TIMEZONE_TO_IANA_MAP.get(ms_id, ms_id)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise EwsError("ErrorCalendarInvalidRecurrence", f"Invalid date {text!r}.") from None


def _int(elem, name, default=None):
    c = child(elem, name)
    if c is None or not (c.text or "").strip():
        if default is None:
            raise EwsError("ErrorCalendarInvalidRecurrence", f"{name} is required.")
        return default
    return int(c.text)


def _day_set(text: str) -> set[int]:
    out = set()
    for word in (text or "").split():
        if word == "Day":
            out |= set(range(7))
        elif word == "Weekday":
            out |= set(range(5))
        elif word == "WeekendDay":
            out |= {5, 6}
        elif word in WEEKDAYS:
            out.add(WEEKDAYS.index(word))
    return out


def _relative_day(year: int, month: int, days: set[int], index: int) -> int | None:
    matching = [d for d in range(1, cal.monthrange(year, month)[1] + 1) if date(year, month, d).weekday() in days]
    if not matching:
        return None
    return matching[index] if index < len(matching) else matching[-1]


class Pattern:
    def __init__(self, recurrence):
        self.pattern = self.range = None
        for c in recurrence:
            name = local(c.tag)
            if name.endswith("Recurrence") and name in ("NoEndRecurrence", "EndDateRecurrence", "NumberedRecurrence"):
                self.range = c
            elif name.endswith("Recurrence"):
                self.pattern = c
        if self.pattern is None or self.range is None:
            raise EwsError("ErrorCalendarInvalidRecurrence", "A recurrence needs a pattern and a range.")
        self.kind = local(self.pattern.tag)
        self.range_kind = local(self.range.tag)
        self.start_date = _date(child(self.range, "StartDate").text if child(self.range, "StartDate") is not None
                                else None)
        self.end_date = _date(child(self.range, "EndDate").text) if self.range_kind == "EndDateRecurrence" else None
        self.count = _int(self.range, "NumberOfOccurrences") if self.range_kind == "NumberedRecurrence" else None
        p = self.pattern
        self.interval = _int(p, "Interval", 1) if self.kind not in ("AbsoluteYearlyRecurrence",
                                                                     "RelativeYearlyRecurrence") else 1
        if self.interval < 1:
            raise EwsError("ErrorCalendarInvalidRecurrence", "Interval must be positive.")
        self.days = _day_set(child(p, "DaysOfWeek").text) if child(p, "DaysOfWeek") is not None else set()
        self.index = INDEXES.get((child(p, "DayOfWeekIndex").text or "").strip(), 0) \
            if child(p, "DayOfWeekIndex") is not None else 0
        self.day_of_month = _int(p, "DayOfMonth", 1)
        month = child(p, "Month")
        self.month = MONTHS.index(month.text.strip()) + 1 if month is not None and month.text in MONTHS else 1
        first = child(p, "FirstDayOfWeek")
        self.first_dow = WEEKDAYS.index(first.text) if first is not None and first.text in WEEKDAYS else 6
        if self.kind == "WeeklyRecurrence" and not self.days:
            raise EwsError("ErrorCalendarInvalidRecurrence", "A weekly recurrence needs DaysOfWeek.")

    def matches(self, d: date, start: date) -> bool:
        k = self.kind
        months = (d.year - start.year) * 12 + d.month - start.month
        if k == "DailyRecurrence":
            return (d - start).days % self.interval == 0
        if k == "WeeklyRecurrence":
            if d.weekday() not in self.days:
                return False
            ws = start - timedelta(days=(start.weekday() - self.first_dow) % 7)
            wd = d - timedelta(days=(d.weekday() - self.first_dow) % 7)
            return ((wd - ws).days // 7) % self.interval == 0
        if k == "AbsoluteMonthlyRecurrence":
            return months % self.interval == 0 and d.day == min(self.day_of_month, cal.monthrange(d.year, d.month)[1])
        if k == "RelativeMonthlyRecurrence":
            return months % self.interval == 0 and d.day == _relative_day(d.year, d.month, self.days, self.index)
        if k == "AbsoluteYearlyRecurrence":
            return d.month == self.month and d.day == min(self.day_of_month, cal.monthrange(d.year, d.month)[1])
        if k == "RelativeYearlyRecurrence":
            return d.month == self.month and d.day == _relative_day(d.year, d.month, self.days, self.index)
        raise EwsError("ErrorCalendarInvalidRecurrence", f"Unsupported pattern {k}.")


def expand(recurrence, start_utc: datetime, end_utc: datetime, tz, until_utc: datetime | None = None):
    """Yield (index, start, end) for every occurrence of the series, 1-based, in order.

    Stops at the range's end, its count, or (for open series) ``until_utc``.
    """
    pat = Pattern(recurrence)
    local_start = start_utc.astimezone(tz)
    duration = end_utc - start_utc
    first = pat.start_date or local_start.date()
    d, n = first, 0
    for _ in range(MAX_DAYS):
        if pat.end_date and d > pat.end_date:
            return
        if pat.count is not None and n >= pat.count:
            return
        if n >= MAX_OCCURRENCES:
            return
        if pat.matches(d, first):
            occ_local = datetime.combine(d, local_start.timetz().replace(tzinfo=None))
            occ_start = (occ_local.replace(tzinfo=tz) if tz is not UTC
                         else occ_local.replace(tzinfo=UTC)).astimezone(UTC)
            if until_utc is not None and occ_start >= until_utc and pat.count is None and pat.end_date is None:
                return
            n += 1
            yield n, occ_start, occ_start + duration
        d += timedelta(days=1)


def is_open_ended(recurrence) -> bool:
    return Pattern(recurrence).range_kind == "NoEndRecurrence"
