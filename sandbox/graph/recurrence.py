"""Graph's patternedRecurrence: validation and expansion of a series into occurrence dates."""

import calendar as cal
from datetime import date, timedelta

from sandbox.graph.errors import GraphError

PATTERNS = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly", "relativeYearly")
RANGES = ("endDate", "noEnd", "numbered")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
INDEXES = ("first", "second", "third", "fourth", "last")
MAX_OCCURRENCES = 5000
MAX_YEARS = 60


def _invalid(message: str) -> GraphError:
    code = "ErrorInvalidRecurrence" if "pattern" in message.lower() else "ErrorPropertyValidationFailure"
    return GraphError(400, code, message)


def _date(value, name):
    if value in (None, "0001-01-01"):
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise GraphError(400, "RequestBodyRead", f"Cannot convert the literal '{value}' to 'Edm.Date' ({name}).") \
            from None


def normalize(rec: dict | None, start_date: date, tz_name: str) -> dict | None:
    """Check a recurrence from a request body; answer it in Graph's full shape."""
    if rec is None:
        return None
    if not isinstance(rec, dict) or not isinstance(rec.get("pattern"), dict) or not isinstance(rec.get("range"), dict):
        raise _invalid("A recurrence needs a pattern and a range.")
    p, r = rec["pattern"], rec["range"]
    ptype = next((t for t in PATTERNS if t.lower() == str(p.get("type", "")).lower()), None)
    if ptype is None:
        raise _invalid(f"The recurrence pattern type '{p.get('type')}' is not valid.")
    interval = p.get("interval", 1)
    if not isinstance(interval, int) or interval < 1 or interval > 999:
        raise _invalid("The recurrence pattern interval must be between 1 and 999.")
    days = [str(d).lower() for d in (p.get("daysOfWeek") or [])]
    if any(d not in DAYS for d in days):
        raise _invalid("The recurrence pattern's daysOfWeek are not valid.")
    if ptype in ("weekly", "relativeMonthly", "relativeYearly") and not days:
        raise _invalid(f"The recurrence pattern '{ptype}' needs daysOfWeek.")
    month, day_of_month = p.get("month", 0) or 0, p.get("dayOfMonth", 0) or 0
    if ptype in ("absoluteMonthly", "absoluteYearly") and not 1 <= day_of_month <= 31:
        raise _invalid(f"The recurrence pattern '{ptype}' needs dayOfMonth between 1 and 31.")
    if ptype in ("absoluteYearly", "relativeYearly") and not 1 <= month <= 12:
        raise _invalid(f"The recurrence pattern '{ptype}' needs month between 1 and 12.")
    index = str(p.get("index") or "first").lower()
    if index not in INDEXES:
        raise _invalid("The recurrence pattern's index is not valid.")
    rtype = next((t for t in RANGES if t.lower() == str(r.get("type", "")).lower()), None)
    if rtype is None:
        raise _invalid(f"The recurrence range type '{r.get('type')}' is not valid.")
    rstart = _date(r.get("startDate"), "startDate") or start_date
    rend = _date(r.get("endDate"), "endDate")
    count = r.get("numberOfOccurrences", 0) or 0
    if rtype == "endDate" and (rend is None or rend < rstart):
        raise _invalid("The recurrence range needs an endDate on or after its startDate.")
    if rtype == "numbered" and (not isinstance(count, int) or count < 1):
        raise _invalid("The recurrence range needs numberOfOccurrences of at least 1.")
    first_day = str(p.get("firstDayOfWeek") or "sunday").lower()
    return {
        "pattern": {"type": ptype, "interval": interval, "month": month, "dayOfMonth": day_of_month,
                    "daysOfWeek": days, "firstDayOfWeek": first_day if first_day in DAYS else "sunday",
                    "index": index},
        "range": {"type": rtype, "startDate": rstart.isoformat(),
                  "endDate": rend.isoformat() if rend and rtype == "endDate" else "0001-01-01",
                  "recurrenceTimeZone": r.get("recurrenceTimeZone") or tz_name,
                  "numberOfOccurrences": count if rtype == "numbered" else 0},
    }


def _relative(year: int, month: int, days: list[str], index: str) -> date | None:
    wanted = {DAYS.index(d) for d in days}
    matching = [date(year, month, d) for d in range(1, cal.monthrange(year, month)[1] + 1)
                if date(year, month, d).weekday() in wanted]
    if not matching:
        return None
    return matching[-1] if index == "last" else matching[min(INDEXES.index(index), len(matching) - 1)]


def _candidates(rec: dict):
    p, start = rec["pattern"], date.fromisoformat(rec["range"]["startDate"])
    t, n = p["type"], p["interval"]
    limit = date(min(start.year + MAX_YEARS, 9999), 12, 31)
    if t == "daily":
        d = start
        while d <= limit:
            yield d
            d += timedelta(days=n)
    elif t == "weekly":
        wanted = sorted(DAYS.index(x) for x in p["daysOfWeek"])
        first = DAYS.index(p["firstDayOfWeek"])
        week = start - timedelta(days=(start.weekday() - first) % 7)
        while week <= limit:
            for offset in sorted((w - first) % 7 for w in wanted):
                d = week + timedelta(days=offset)
                if d >= start:
                    yield d
            week += timedelta(weeks=n)
    elif t in ("absoluteMonthly", "relativeMonthly"):
        y, m = start.year, start.month
        while date(y, m, 1) <= limit:
            if t == "absoluteMonthly":
                d = date(y, m, min(p["dayOfMonth"], cal.monthrange(y, m)[1]))
            else:
                d = _relative(y, m, p["daysOfWeek"], p["index"])
            if d is not None and d >= start:
                yield d
            m += n
            y, m = y + (m - 1) // 12, (m - 1) % 12 + 1
    else:
        y = start.year
        while y <= limit.year:
            m = p["month"]
            if t == "absoluteYearly":
                d = date(y, m, min(p["dayOfMonth"], cal.monthrange(y, m)[1]))
            else:
                d = _relative(y, m, p["daysOfWeek"], p["index"])
            if d is not None and d >= start:
                yield d
            y += n


def occurrence_dates(rec: dict, until: date):
    """The series' dates in order, up to ``until`` (inclusive) or the range's end."""
    r = rec["range"]
    end = date.fromisoformat(r["endDate"]) if r["type"] == "endDate" else None
    for count, d in enumerate(_candidates(rec)):
        if d > until or (end and d > end) or count >= MAX_OCCURRENCES:
            return
        if r["type"] == "numbered" and count >= r["numberOfOccurrences"]:
            return
        yield d
