"""Field maps between Salesforce records (REST JSON) and the engine's canonical records, per object.

Pure: no simple-salesforce, no Django, no I/O. The Salesforce connector selects `soql_fields`, turns each row
into canonical fields with `to_canonical`, and turns canonical fields into a write body with `to_salesforce`.

Rules worth stating:

- Salesforce date-times are UTC (``2026-11-22T10:00:00.000+0000``); canonical date-times are aware UTC
  ``datetime``s and are written back as UTC, whatever time zone the canonical value carries.
- All-day events: Salesforce keeps the first day in ``ActivityDate`` and the length in ``DurationInMinutes``
  (1,440 per day); the canonical record has ``start``/``end`` as dates with an exclusive end (a one-day event
  on 2 March is start 2 March, end 3 March), as Outlook stores them.
- Company on contacts comes from ``Account.Name`` and is read-only here: it is never written (that would mean
  renaming or re-parenting an account); see `read_only_fields`.
- Picklists: show-as maps to the canonical words ``busy``, ``free``, ``out_of_office``, ``tentative``
  (Salesforce has no tentative: written as Busy; WorkingElsewhere reads as busy). Task status and priority are
  Salesforce's standard values in the canonical record too; an org's own values are read as they are and
  never written (a write leaves Salesforce's value unchanged).
- Recurring series: a series record (``IsRecurrence = true``) maps to one canonical event whose ``recurrence`` is
  the pattern (RecursDaily/EveryWeekday/Weekly/Monthly/MonthlyNth/Yearly/YearlyNth, interval, day mask, day of
  month, instance, month, RecurrenceEndDateOnly, RecurrenceTimeZoneSidKey) and whose start/end are the first
  occurrence's; `recurrence_to_salesforce` writes it back. `fits_salesforce` says whether a canonical series can be
  a Salesforce series at all (an end date, no more occurrences than `OCCURRENCE_LIMITS` allows for its frequency).
  Whether series are synced as series or as their occurrences is the connector's choice (`RECURRENCE_MASTER_FILTER`
  when not).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sync.engine.canonical import schema_for
from sync.engine.records import SyncObject
from sync.engine.recurrence import DAYS, INSTANCES, Recurrence, first_occurrence, zone
from sync.mappings.datetimes import iso_milliseconds, to_date, to_utc

SOBJECTS: dict[SyncObject, str] = {
    SyncObject.CONTACTS: "Contact",
    SyncObject.EVENTS: "Event",
    SyncObject.TASKS: "Task",
}

# The connector adds this to the events data set when series are synced as their occurrences.
RECURRENCE_MASTER_FILTER = "IsRecurrence = false"

# Salesforce's limits on a series' occurrences depend on its frequency (Knowledge Article 000212481, "Recurring
# Events in Salesforce have occurrence limits depending on the event frequency"): daily (and every weekday) 100,
# weekly 53, monthly 59, yearly 9. A series over its limit is synced as its occurrences.
MAX_OCCURRENCES = 100
OCCURRENCE_LIMITS = {"RecursDaily": 100, "RecursEveryWeekday": 100, "RecursWeekly": 53, "RecursMonthly": 59,
                     "RecursMonthlyNth": 59, "RecursYearly": 9, "RecursYearlyNth": 9}
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR")
RECURRENCE_TYPES = ("RecursDaily", "RecursEveryWeekday", "RecursWeekly", "RecursMonthly", "RecursMonthlyNth",
                    "RecursYearly", "RecursYearlyNth")
RECURRENCE_FIELDS = ("RecurrenceInterval", "RecurrenceDayOfWeekMask", "RecurrenceDayOfMonth", "RecurrenceInstance",
                     "RecurrenceMonthOfYear", "RecurrenceStartDateTime", "RecurrenceEndDateOnly",
                     "RecurrenceTimeZoneSidKey")
# Salesforce's day-of-week mask: Sunday 1, Monday 2, ... Saturday 64 (canonical days are MO..SU).
MASK_BITS = {"SU": 1, "MO": 2, "TU": 4, "WE": 8, "TH": 16, "FR": 32, "SA": 64}
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December")
SF_INSTANCES = ("First", "Second", "Third", "Fourth", "Last")

MINUTES_PER_DAY = 1440

# Salesforce's lengths of the text fields we write, per canonical field (characters; the object reference and
# describe: Contact FirstName 40, LastName 80, Title 128, ..., Event and Task Subject 255, Description 32,000).
# A longer value is refused (STRING_TOO_LONG): the engine cuts texts to what both ends hold
# (sync.engine.canonical.TEXT_LIMITS), never more than this.
TEXT_LIMITS: dict[SyncObject, dict[str, int]] = {
    SyncObject.CONTACTS: {"first_name": 40, "last_name": 80, "email": 80, "title": 128, "department": 80,
                          "business_phone": 40, "mobile_phone": 40, "home_phone": 40, "fax": 40, "street": 255,
                          "city": 40, "state": 80, "postal_code": 20, "country": 80, "notes": 32000},
    SyncObject.EVENTS: {"subject": 255, "location": 255, "description": 32000},
    SyncObject.TASKS: {"subject": 255, "description": 32000},
}


@dataclass(frozen=True, slots=True)
class FieldMap:
    """One canonical field and the Salesforce field it comes from; `writable` False means read-only here."""

    canonical: str
    salesforce: str
    writable: bool = True


CONTACT_MAP: tuple[FieldMap, ...] = (
    FieldMap("first_name", "FirstName"),
    FieldMap("last_name", "LastName"),
    FieldMap("email", "Email"),
    FieldMap("company", "Account.Name", writable=False),
    FieldMap("title", "Title"),
    FieldMap("department", "Department"),
    FieldMap("business_phone", "Phone"),
    FieldMap("mobile_phone", "MobilePhone"),
    FieldMap("home_phone", "HomePhone"),
    FieldMap("fax", "Fax"),
    FieldMap("street", "MailingStreet"),
    FieldMap("city", "MailingCity"),
    FieldMap("state", "MailingState"),
    FieldMap("postal_code", "MailingPostalCode"),
    FieldMap("country", "MailingCountry"),
    FieldMap("birthday", "Birthdate"),
    FieldMap("notes", "Description"),
)

# Events and tasks need code beyond a 1:1 copy (all-day, picklists, reminders): the maps below document the
# pairing and drive `soql_fields`; `_event_*` and `_task_*` do the conversion.
EVENT_MAP: tuple[FieldMap, ...] = (
    FieldMap("subject", "Subject"),
    FieldMap("location", "Location"),
    FieldMap("start", "StartDateTime"),
    FieldMap("end", "EndDateTime"),
    FieldMap("is_all_day", "IsAllDayEvent"),
    FieldMap("is_private", "IsPrivate"),
    FieldMap("show_as", "ShowAs"),
    FieldMap("description", "Description"),
    FieldMap("recurrence", "RecurrenceType"),
)
EVENT_EXTRA_FIELDS = ("ActivityDate", "DurationInMinutes", "IsRecurrence", "RecurrenceActivityId", *RECURRENCE_FIELDS)

TASK_MAP: tuple[FieldMap, ...] = (
    FieldMap("subject", "Subject"),
    FieldMap("due_date", "ActivityDate"),
    FieldMap("status", "Status"),
    FieldMap("priority", "Priority"),
    FieldMap("reminder_at", "ReminderDateTime"),
    FieldMap("description", "Description"),
)
TASK_EXTRA_FIELDS = ("IsReminderSet",)

MAPS: dict[SyncObject, tuple[FieldMap, ...]] = {
    SyncObject.CONTACTS: CONTACT_MAP,
    SyncObject.EVENTS: EVENT_MAP,
    SyncObject.TASKS: TASK_MAP,
}
_EXTRA = {SyncObject.CONTACTS: (), SyncObject.EVENTS: EVENT_EXTRA_FIELDS, SyncObject.TASKS: TASK_EXTRA_FIELDS}

# Picklists. The canonical vocabulary is shared with sync/mappings/exchange.py: show-as is one of "busy", "free",
# "out_of_office", "tentative"; task status and priority are Salesforce's own standard picklist values.
SHOW_AS_FROM_SALESFORCE = {"Busy": "busy", "Free": "free", "OutOfOffice": "out_of_office", "WorkingElsewhere": "busy"}
SHOW_AS_TO_SALESFORCE = {"busy": "Busy", "free": "Free", "out_of_office": "OutOfOffice", "tentative": "Busy"}
TASK_STATUSES = ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")
TASK_PRIORITIES = ("High", "Normal", "Low")


def sobject_name(object_type: SyncObject | str) -> str:
    return SOBJECTS[SyncObject(object_type)]


def soql_fields(object_type: SyncObject | str) -> list[str]:
    """The fields to SELECT for an object: Id and SystemModstamp (the version), then the mapped fields."""
    object_type = SyncObject(object_type)
    names = ["Id", "SystemModstamp"]
    for item in MAPS[object_type]:
        if item.salesforce not in names:
            names.append(item.salesforce)
    names += [name for name in _EXTRA[object_type] if name not in names]
    return names


def unmapped_fields(object_type: SyncObject | str) -> frozenset[str]:
    """Canonical fields Salesforce does not hold at all (pass them to `Schema.without`)."""
    mapped = {item.canonical for item in MAPS[SyncObject(object_type)]}
    return frozenset(name for name in schema_for(object_type).names if name not in mapped)


def read_only_fields(object_type: SyncObject | str) -> frozenset[str]:
    """Canonical fields Salesforce reports but this connector never writes (contacts: company)."""
    return frozenset(item.canonical for item in MAPS[SyncObject(object_type)] if not item.writable)


# ---- values ------------------------------------------------------------------------------------------------


def parse_datetime(value: Any) -> datetime | None:
    """A Salesforce date-time (``2026-11-22T10:00:00.000+0000``, or ISO-8601 with Z / +hh:mm) as aware UTC.

    Milliseconds are kept: the connector's watermarks compare SystemModstamps exactly."""
    return to_utc(value, whole_seconds=False)


def parse_date(value: Any) -> date | None:
    """A Salesforce date (``2026-11-22``, or the date part of a date-time as written) as a date."""
    return to_date(value)


def format_datetime(value: Any) -> str | None:
    """A date-time as Salesforce writes them: UTC, milliseconds, ``+0000``."""
    parsed = parse_datetime(value)
    return iso_milliseconds(parsed) if parsed is not None else None


def format_date(value: Any) -> str | None:
    parsed = to_date(value)
    return parsed.isoformat() if parsed else None


def _path(record: Mapping[str, Any], dotted: str) -> Any:
    current: Any = record
    for part in dotted.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if text.strip() else None


# ---- Salesforce -> canonical -------------------------------------------------------------------------------


def to_canonical(object_type: SyncObject | str, record: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical fields of a Salesforce record (a query row; relationship fields as nested dicts)."""
    object_type = SyncObject(object_type)
    if object_type is SyncObject.CONTACTS:
        out: dict[str, Any] = {}
        for item in CONTACT_MAP:
            value = _path(record, item.salesforce)
            out[item.canonical] = parse_date(value) if item.canonical == "birthday" else _text(value)
        return out
    if object_type is SyncObject.EVENTS:
        return _event_to_canonical(record)
    return _task_to_canonical(record)


def _event_to_canonical(record: Mapping[str, Any]) -> dict[str, Any]:
    all_day = bool(record.get("IsAllDayEvent"))
    if all_day:
        start = parse_date(record.get("ActivityDate")) or parse_date(record.get("StartDateTime"))
        minutes = record.get("DurationInMinutes")
        if minutes:
            days = max(1, -(-int(minutes) // MINUTES_PER_DAY))
        else:
            last = parse_date(record.get("EndDateTime"))
            days = max(1, (last - start).days + 1) if (last and start) else 1
        start_value: date | datetime | None = start
        end_value: date | datetime | None = start + timedelta(days=days) if start else None
    else:
        start_value = parse_datetime(record.get("StartDateTime"))
        end_value = parse_datetime(record.get("EndDateTime"))
        if end_value is None and start_value is not None and record.get("DurationInMinutes") is not None:
            end_value = start_value + timedelta(minutes=int(record["DurationInMinutes"]))
    show_as = record.get("ShowAs")
    series = recurrence_from_salesforce(record) if record.get("IsRecurrence") else None
    if series is not None:
        start_value, end_value = first_occurrence(series, start_value, end_value)
    return {
        "recurrence": series.text() if series else None,
        "subject": _text(record.get("Subject")),
        "location": _text(record.get("Location")),
        "start": start_value,
        "end": end_value,
        "is_all_day": all_day,
        "is_private": bool(record.get("IsPrivate")),
        "show_as": SHOW_AS_FROM_SALESFORCE.get(show_as) if show_as else None,
        "description": _text(record.get("Description")),
    }


def _task_to_canonical(record: Mapping[str, Any]) -> dict[str, Any]:
    status, priority = record.get("Status"), record.get("Priority")
    return {
        "subject": _text(record.get("Subject")),
        "due_date": parse_date(record.get("ActivityDate")),
        "status": _text(status),
        "priority": _text(priority),
        "reminder_at": parse_datetime(record.get("ReminderDateTime")) if record.get("IsReminderSet") else None,
        "description": _text(record.get("Description")),
    }


# ---- canonical -> Salesforce -------------------------------------------------------------------------------


def to_salesforce(object_type: SyncObject | str, canonical: Mapping[str, Any]) -> dict[str, Any]:
    """The write body for a record with these canonical fields: only fields Salesforce accepts on create and
    update. Empty values are sent as null so that an update clears them; picklists Salesforce defaults (task
    status and priority, show-as) are left out instead when empty or unknown."""
    object_type = SyncObject(object_type)
    if object_type is SyncObject.CONTACTS:
        out: dict[str, Any] = {}
        for item in CONTACT_MAP:
            if not item.writable:
                continue
            value = canonical.get(item.canonical)
            out[item.salesforce] = format_date(value) if item.canonical == "birthday" else _text(value)
        return out
    if object_type is SyncObject.EVENTS:
        return _event_to_salesforce(canonical)
    return _task_to_salesforce(canonical)


def _event_to_salesforce(canonical: Mapping[str, Any]) -> dict[str, Any]:
    all_day = bool(canonical.get("is_all_day"))
    out: dict[str, Any] = {
        "Subject": _text(canonical.get("subject")),
        "Location": _text(canonical.get("location")),
        "IsAllDayEvent": all_day,
        "IsPrivate": bool(canonical.get("is_private")),
        "Description": _text(canonical.get("description")),
    }
    if all_day:
        # Dates as given: an all-day event's day must not move through a UTC conversion.
        start = to_date(canonical.get("start"))
        end = to_date(canonical.get("end"))
        days = max(1, (end - start).days) if (start and end) else 1
        out["ActivityDate"] = start.isoformat() if start else None
        out["DurationInMinutes"] = days * MINUTES_PER_DAY
    else:
        out["StartDateTime"] = format_datetime(canonical.get("start"))
        out["EndDateTime"] = format_datetime(canonical.get("end"))
    show_as = _text(canonical.get("show_as"))
    value = SHOW_AS_TO_SALESFORCE.get(show_as.strip().lower()) if show_as else None
    if value:
        out["ShowAs"] = value
    if canonical.get("recurrence"):
        out.update(recurrence_to_salesforce(Recurrence.parse(canonical["recurrence"]), canonical.get("start"),
                                            all_day))
    return out


def _mask(days: tuple[str, ...]) -> int:
    return sum(MASK_BITS[d] for d in days)


def _days(mask: Any) -> tuple[str, ...]:
    value = int(mask or 0)
    return tuple(d for d in DAYS if value & MASK_BITS[d])


def recurrence_from_salesforce(record: Mapping[str, Any]) -> Recurrence | None:
    """The canonical recurrence of a series record (None for an unknown RecurrenceType)."""
    kind = record.get("RecurrenceType")
    interval = int(record.get("RecurrenceInterval") or 1)
    month_name = record.get("RecurrenceMonthOfYear")
    month = MONTH_NAMES.index(month_name) + 1 if month_name in MONTH_NAMES else None
    instance_name = record.get("RecurrenceInstance")
    instance = INSTANCES[SF_INSTANCES.index(instance_name)] if instance_name in SF_INSTANCES else None
    common = {"until": parse_date(record.get("RecurrenceEndDateOnly")),
              "tz": _text(record.get("RecurrenceTimeZoneSidKey"))}
    try:
        if kind == "RecursDaily":
            return Recurrence.of("daily", interval=interval, **common)
        if kind == "RecursEveryWeekday":
            return Recurrence.of("weekly", days=("MO", "TU", "WE", "TH", "FR"), **common)
        if kind == "RecursWeekly":
            return Recurrence.of("weekly", interval=interval, days=_days(record.get("RecurrenceDayOfWeekMask")),
                                 **common)
        if kind == "RecursMonthly":
            return Recurrence.of("monthly", interval=interval, day=record.get("RecurrenceDayOfMonth"), **common)
        if kind == "RecursMonthlyNth":
            return Recurrence.of("monthly_nth", interval=interval, instance=instance,
                                 days=_days(record.get("RecurrenceDayOfWeekMask")), **common)
        if kind == "RecursYearly":
            return Recurrence.of("yearly", month=month, day=record.get("RecurrenceDayOfMonth"), **common)
        if kind == "RecursYearlyNth":
            return Recurrence.of("yearly_nth", month=month, instance=instance,
                                 days=_days(record.get("RecurrenceDayOfWeekMask")), **common)
    except ValueError:
        return None
    return None


def recurrence_to_salesforce(series: Recurrence, start: Any, all_day: bool) -> dict[str, Any]:
    """The Recurrence* fields of a series record (IsRecurrence itself is create-only: see the connector)."""
    out: dict[str, Any] = dict.fromkeys(RECURRENCE_FIELDS)
    kind = recurrence_type(series)
    out["RecurrenceType"] = kind
    if kind not in ("RecursYearly", "RecursYearlyNth", "RecursEveryWeekday"):
        out["RecurrenceInterval"] = series.interval
    if series.days and kind != "RecursEveryWeekday":
        out["RecurrenceDayOfWeekMask"] = _mask(series.days)
    if series.day is not None:
        out["RecurrenceDayOfMonth"] = series.day
    if series.instance is not None:
        out["RecurrenceInstance"] = SF_INSTANCES[INSTANCES.index(series.instance)]
    if series.month is not None:
        out["RecurrenceMonthOfYear"] = MONTH_NAMES[series.month - 1]
    if all_day:
        first = to_date(start)
        out["RecurrenceStartDateTime"] = format_datetime(datetime(first.year, first.month, first.day, tzinfo=UTC)) \
            if first else None
    else:
        out["RecurrenceStartDateTime"] = format_datetime(start)
    out["RecurrenceEndDateOnly"] = format_date(series.until)
    out["RecurrenceTimeZoneSidKey"] = "GMT" if series.tz in (None, "UTC") else series.tz
    return out


def recurrence_type(series: Recurrence) -> str:
    """The RecurrenceType a canonical pattern is written as (every weekday, every week: RecursEveryWeekday)."""
    if series.pattern == "weekly" and series.interval == 1 and series.days == WEEKDAYS:
        return "RecursEveryWeekday"
    return {"daily": "RecursDaily", "weekly": "RecursWeekly", "monthly": "RecursMonthly",
            "monthly_nth": "RecursMonthlyNth", "yearly": "RecursYearly", "yearly_nth": "RecursYearlyNth"}[
        series.pattern]


def fits_salesforce(canonical: Mapping[str, Any]) -> bool:
    """Whether a canonical series can be one Salesforce series: it ends on a date and has no more occurrences than
    Salesforce allows for its frequency (OCCURRENCE_LIMITS; every canonical pattern has a RecurrenceType)."""
    text = canonical.get("recurrence")
    start = canonical.get("start")
    if not text or start is None:
        return False
    series = Recurrence.parse(text)
    if series.until is None:
        return False
    first = start if not isinstance(start, datetime) else start.astimezone(zone(series.tz)).date()
    limit = OCCURRENCE_LIMITS[recurrence_type(series)]
    return series.count_occurrences(first, limit) <= limit


def _task_to_salesforce(canonical: Mapping[str, Any]) -> dict[str, Any]:
    reminder = canonical.get("reminder_at")
    out: dict[str, Any] = {
        "Subject": _text(canonical.get("subject")),
        "ActivityDate": format_date(canonical.get("due_date")),
        "Description": _text(canonical.get("description")),
        "IsReminderSet": reminder not in (None, ""),
        "ReminderDateTime": format_datetime(reminder),
    }
    status = _picklist(TASK_STATUSES, canonical.get("status"))
    if status:
        out["Status"] = status
    priority = _picklist(TASK_PRIORITIES, canonical.get("priority"))
    if priority:
        out["Priority"] = priority
    return out


def _picklist(values: tuple[str, ...], value: Any) -> str | None:
    """The standard picklist value `value` names (case and spacing aside), or None."""
    wanted = " ".join(str(value).split()).casefold() if value is not None else ""
    return next((known for known in values if known.casefold() == wanted), None)
