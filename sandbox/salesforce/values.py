"""Salesforce value formats: datetimes as ``2026-11-22T10:15:30.000+0000`` (always UTC here), dates as
``2026-11-22``. Stored values use exactly these strings, so comparing two of them compares the instants."""

import datetime as dt
import re

UTC = dt.UTC
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?$"
)
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def format_datetime(value: dt.datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def format_date(value: dt.date) -> str:
    return value.isoformat()


def parse_datetime(text) -> dt.datetime | None:
    """Parse the ISO-8601 forms clients send (``Z``, ``+0000``, ``+01:00``, with or without millis)."""
    if not isinstance(text, str):
        return None
    match = _DATETIME.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        tz = UTC
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            digits = zone[1:].replace(":", "")
            tz = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
        return dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro,
                           tzinfo=tz).astimezone(UTC)
    except ValueError:
        return None


def parse_date(text) -> dt.date | None:
    if not isinstance(text, str):
        return None
    match = _DATE.match(text.strip())
    if not match:
        return None
    try:
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


def normalize_datetime(text) -> str | None:
    parsed = parse_datetime(text)
    return format_datetime(parsed) if parsed else None


def start_of_day(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=UTC)
