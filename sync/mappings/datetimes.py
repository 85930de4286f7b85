"""The one set of date and time coercions every field map (and both Exchange connectors) uses.

Canonical instants are aware UTC datetimes to the whole second; canonical dates are plain `date`s taken as written
(a local midnight is never shifted through UTC onto the day before). Pure: no Django, no I/O.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any


def to_utc(value: Any, *, whole_seconds: bool = True) -> datetime | None:
    """An instant as an aware UTC datetime, to the whole second unless `whole_seconds` is False.

    Accepts datetimes (a naive one is taken as UTC), ISO-8601 text ("Z" or an offset) and dates (their UTC
    midnight); None and "" are None. Only Salesforce's own change stamps keep their milliseconds (its watermarks
    compare them exactly); every canonical value is whole seconds.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if whole_seconds:
            # Through the timestamp: exchangelib's EWSDateTime refuses astimezone() to a non-EWSTimeZone. Floored,
            # not truncated, so an instant before 1970 keeps its second (as the engine's canonical form does).
            return datetime.fromtimestamp(math.floor(value.timestamp()), tz=UTC)
        return value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise TypeError(f"not a date-time: {value!r}")


def to_date(value: Any) -> date | None:
    """A date as written: a datetime's own date (no zone conversion), a date, or ISO text's first ten characters."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return date(value.year, value.month, value.day)  # a plain date, not a library's subclass (EWSDate)
    return date.fromisoformat(str(value).strip()[:10])


def iso_utc(value: datetime) -> str:
    """An instant as ISO-8601 UTC text to the second with "Z" (query parameters, window keys)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_wall(value: datetime) -> str:
    """An instant's UTC wall clock without a zone suffix (Graph's dateTimeTimeZone.dateTime, timeZone "UTC")."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def iso_milliseconds(value: datetime) -> str:
    """An instant as Salesforce writes them: UTC, milliseconds, "+0000"."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"
