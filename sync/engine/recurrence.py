"""Canonical recurrence of an event series: the pattern both ends can agree on, and the dates it produces.

A series is one event record (its `start` and `end` are the first occurrence's) plus a `recurrence` field whose
canonical value is a short text, compared and hashed like any other field, e.g.
``pattern=weekly;interval=1;days=MO,WE;until=2026-05-27;tz=Europe/Paris``. Keys, always in this order:

- ``pattern``: ``daily``, ``weekly`` (``days``), ``monthly`` (``day`` of the month), ``monthly_nth`` (``instance``
  first/second/third/fourth/last of ``days``: one weekday, or MO-FR for "weekday", ...), ``yearly`` (``month``
  and ``day``), ``yearly_nth`` (``instance`` of ``days`` in ``month``);
- ``interval``: every n days / weeks / months (yearly patterns always 1);
- ``until`` (last possible date, inclusive, in the series' zone) or ``count`` (number of occurrences), never
  both; neither is a series without an end;
- ``tz``: the IANA time zone the times of day are kept in (daylight saving moves the UTC times, not the local).

`occurrence_dates` expands a pattern the way Salesforce does (weeks start on Sunday; a monthly day past the end of
a month is that month's last day), which is what decides whether a series fits Salesforce's limit.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PATTERNS = ("daily", "weekly", "monthly", "monthly_nth", "yearly", "yearly_nth")
DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")  # index = date.weekday()
INSTANCES = ("first", "second", "third", "fourth", "last")
MAX_YEARS = 100  # a series without an end is never expanded further than this


@dataclass(frozen=True, slots=True)
class Recurrence:
    pattern: str
    interval: int = 1
    days: tuple[str, ...] = ()
    day: int | None = None
    instance: str | None = None
    month: int | None = None
    until: date | None = None
    count: int | None = None
    tz: str | None = None

    def __post_init__(self) -> None:
        if self.pattern not in PATTERNS:
            raise ValueError(f"unknown recurrence pattern {self.pattern!r}")
        if self.interval < 1:
            raise ValueError("a recurrence interval is at least 1")
        if any(d not in DAYS for d in self.days):
            raise ValueError(f"unknown weekday in {self.days!r}")
        if self.pattern in ("weekly", "monthly_nth", "yearly_nth") and not self.days:
            raise ValueError(f"a {self.pattern} recurrence needs days")
        if self.pattern in ("monthly", "yearly") and not (self.day and 1 <= self.day <= 31):
            raise ValueError(f"a {self.pattern} recurrence needs a day of the month")
        if self.pattern.endswith("_nth") and self.instance not in INSTANCES:
            raise ValueError(f"a {self.pattern} recurrence needs an instance")
        if self.pattern.startswith("yearly") and not (self.month and 1 <= self.month <= 12):
            raise ValueError(f"a {self.pattern} recurrence needs a month")
        if self.until is not None and self.count is not None:
            raise ValueError("a recurrence ends on a date or after a count, not both")
        if self.count is not None and self.count < 1:
            raise ValueError("a recurrence count is at least 1")

    @classmethod
    def of(cls, pattern: str, *, interval: int = 1, days: Any = (), day: int | None = None,
           instance: str | None = None, month: int | None = None, until: Any = None, count: int | None = None,
           tz: str | None = None) -> Recurrence:
        """A recurrence with only the parts its pattern uses (others are dropped, days put in week order)."""
        uses_days = pattern in ("weekly", "monthly_nth", "yearly_nth")
        wanted = {str(d).upper()[:2] for d in days or ()} if uses_days else set()
        if isinstance(until, str):
            until = date.fromisoformat(until[:10])
        return cls(
            pattern=pattern,
            interval=1 if pattern.startswith("yearly") else int(interval or 1),
            days=tuple(d for d in DAYS if d in wanted) if uses_days else (),
            day=int(day) if day and pattern in ("monthly", "yearly") else None,
            instance=str(instance).lower() if instance and pattern.endswith("_nth") else None,
            month=int(month) if month and pattern.startswith("yearly") else None,
            until=until, count=int(count) if count and until is None else None,
            tz=_zone_name(tz),
        )

    # ---- text form (the canonical value) ---------------------------------------------------------------------
    def text(self) -> str:
        parts = [f"pattern={self.pattern}", f"interval={self.interval}"]
        if self.days:
            parts.append("days=" + ",".join(self.days))
        if self.day is not None:
            parts.append(f"day={self.day}")
        if self.instance is not None:
            parts.append(f"instance={self.instance}")
        if self.month is not None:
            parts.append(f"month={self.month}")
        if self.until is not None:
            parts.append(f"until={self.until.isoformat()}")
        if self.count is not None:
            parts.append(f"count={self.count}")
        if self.tz:
            parts.append(f"tz={self.tz}")
        return ";".join(parts)

    @classmethod
    def parse(cls, value: Any) -> Recurrence:
        """A recurrence from its text, a mapping of its parts, or a Recurrence (returned as is)."""
        if isinstance(value, Recurrence):
            return value
        if isinstance(value, Mapping):
            parts = dict(value)
        else:
            parts = {}
            for piece in str(value).split(";"):
                key, _, raw = piece.strip().partition("=")
                if key:
                    parts[key.strip()] = raw.strip()
        pattern = str(parts.pop("pattern", "")).strip().lower()
        days = parts.pop("days", ())
        if isinstance(days, str):
            days = [d for d in days.split(",") if d.strip()]
        return cls.of(pattern, days=days, **{k: (None if v in ("", None) else v) for k, v in parts.items()})

    # ---- expansion -------------------------------------------------------------------------------------------
    def occurrence_dates(self, first: date, limit: int | None = None) -> Iterator[date]:
        """The dates of the occurrences of a series starting on `first` (the first occurrence's local date), in
        order; at most `limit` of them (and never past MAX_YEARS for a series without an end)."""
        last = self.until or date(min(first.year + MAX_YEARS, 9999), 12, 31)
        produced = 0
        wanted = self.count if self.count is not None else limit
        if limit is not None and wanted is not None:
            wanted = min(wanted, limit)
        for day in self._candidates(first, last):
            if day < first:
                continue
            if day > last:
                return
            yield day
            produced += 1
            if wanted is not None and produced >= wanted:
                return

    def count_occurrences(self, first: date, limit: int) -> int:
        """How many occurrences the series has, counting no further than `limit` + 1 (so "more than limit" shows)."""
        return sum(1 for _ in self.occurrence_dates(first, limit + 1))

    def _candidates(self, first: date, last: date) -> Iterator[date]:
        if self.pattern == "daily":
            day = first
            while day <= last:
                yield day
                day += timedelta(days=self.interval)
            return
        if self.pattern == "weekly":
            week = first - timedelta(days=(first.weekday() + 1) % 7)  # weeks start on Sunday
            order = sorted((DAYS.index(d) + 1) % 7 for d in self.days)  # 0 = Sunday
            while week <= last:
                for offset in order:
                    yield week + timedelta(days=offset)
                week += timedelta(weeks=self.interval)
            return
        step = 12 if self.pattern.startswith("yearly") else self.interval
        year, month = first.year, (self.month or first.month)
        if self.pattern.startswith("yearly") and date(year, month, 1) > first:
            year -= 1
        while date(year, month, 1) <= last:
            if self.pattern in ("monthly", "yearly"):
                assert self.day is not None
                yield date(year, month, min(self.day, calendar.monthrange(year, month)[1]))
            else:
                found = self._nth(year, month)
                if found is not None:
                    yield found
            index = year * 12 + month - 1 + step
            year, month = index // 12, index % 12 + 1

    def _nth(self, year: int, month: int) -> date | None:
        days = [date(year, month, d) for d in range(1, calendar.monthrange(year, month)[1] + 1)
                if DAYS[date(year, month, d).weekday()] in self.days]
        index = -1 if self.instance == "last" else INSTANCES.index(self.instance or "first")
        return days[index] if -len(days) <= index < len(days) else None

    def ending_on(self, until: date) -> Recurrence:
        """The same pattern ending on a date instead of after a count."""
        return replace(self, until=until, count=None)


_UTC_NAMES = frozenset({"utc", "gmt", "etc/utc", "etc/gmt", "etc/uct", "uct", "etc/zulu", "zulu", "greenwich",
                        "etc/greenwich", "universal", "etc/universal", "z"})


def _zone_name(value: Any) -> str | None:
    """Zone names as IANA names; every name of UTC is "UTC" (Salesforce says GMT, Exchange Etc/UTC)."""
    name = str(value).strip() if value else ""
    if not name:
        return None
    return "UTC" if name.casefold() in _UTC_NAMES else name


def normalise_recurrence(value: Any) -> str | None:
    """The canonical text of a recurrence (None and "" are no recurrence; an invalid one raises ValueError: a series
    must never quietly become a single event)."""
    if value is None or value == "":
        return None
    return Recurrence.parse(value).text()


def zone(name: str | None) -> tzinfo:
    """The zone a series keeps its times of day in (UTC when unknown)."""
    if not name or name in ("UTC", "GMT", "Etc/UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def occurrence_starts(recurrence: Recurrence, start: datetime | date, limit: int | None = None) -> list[Any]:
    """The start of every occurrence of a series whose first occurrence starts at `start`: dates for all-day
    series, else aware UTC date-times at the first occurrence's local time of day in the series' zone (so that
    daylight saving moves the UTC time, never the local one)."""
    if not isinstance(start, datetime):
        return list(recurrence.occurrence_dates(start, limit))
    tz = zone(recurrence.tz)
    local = start.astimezone(tz)
    out = []
    for day in recurrence.occurrence_dates(local.date(), limit):
        moment = datetime(day.year, day.month, day.day, local.hour, local.minute, local.second, tzinfo=tz)
        out.append(moment.astimezone(UTC))
    return out


def first_occurrence(recurrence: Recurrence, start: Any, end: Any) -> tuple[Any, Any]:
    """`start`/`end` moved to the series' first occurrence when the pattern does not produce the start's own day
    (a weekly Tuesday series whose range begins on a Monday starts on that Tuesday)."""
    if start is None:
        return start, end
    if isinstance(start, datetime):
        local = start.astimezone(zone(recurrence.tz))
        first = next(recurrence.occurrence_dates(local.date(), 1), None)
        shift = (first - local.date()) if first else timedelta(0)
    else:
        first = next(recurrence.occurrence_dates(start, 1), None)
        shift = (first - start) if first else timedelta(0)
    if not shift:
        return start, end
    if isinstance(start, datetime):
        moved = occurrence_starts(replace(recurrence, count=None, until=None), start + shift, 1)[0]
        return moved, (end + (moved - start)) if end is not None else None
    return start + shift, (end + shift) if end is not None else None
