"""Field map between canonical records (sync.engine.canonical) and Microsoft Graph JSON (v1.0 contact, event, todoTask).

Pure: no HTTP, no Django. The Graph connector reads items as Graph returns them (plain JSON dicts, with the
extended properties it asked for under ``singleValueExtendedProperties`` and To Do's ``linkedResources``) and
writes the dicts built here. The canonical conventions are those of ``sync.mappings.exchange`` (all-day ends
exclusive, ``show_as`` words, Salesforce picklist values for task status and priority), so that a record written
through EWS or through Graph reads back the same; what the two maps share lives in ``sync.mappings.outlook``.

Graph shapes used:

- contact: ``givenName``, ``surname``, ``companyName``, ``jobTitle``, ``department``, ``displayName``;
  ``emailAddresses`` [{"address", "name"}]; ``businessPhones`` [str], ``homePhones`` [str], ``mobilePhone``;
  ``businessAddress`` {"street", "city", "state", "postalCode", "countryOrRegion"}; ``birthday``
  (DateTimeOffset); ``personalNotes`` (the Outlook notes, plain text). Graph v1.0 has no fax property: the
  business fax is the MAPI property PidTagBusinessFaxNumber, read and written as a single-value extended property.
- event: ``subject``, ``body`` {"contentType", "content"}, ``start``/``end`` {"dateTime", "timeZone"},
  ``isAllDay``, ``location`` {"displayName"}, ``showAs``, ``sensitivity``, ``categories``, ``attendees``,
  ``organizer``, ``type``.
- todoTask: ``title``, ``body``, ``dueDateTime`` and ``reminderDateTime`` {"dateTime", "timeZone"},
  ``isReminderOn``, ``status``, ``importance``, ``linkedResources`` [{"applicationName", "externalId", ...}].
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sync.engine.records import SyncObject
from sync.engine.recurrence import DAYS, INSTANCES, Recurrence, first_occurrence
from sync.mappings.datetimes import iso_wall, to_date, to_utc
from sync.mappings.outlook import PRIORITIES, clean, clean_body, html_to_text

# The MAPI property Outlook keeps a contact's business fax in (PidTagBusinessFaxNumber, PT_UNICODE).
FAX_PROPERTY = "String 0x3A24"

CONTACT_SELECT = ("givenName", "surname", "companyName", "jobTitle", "department", "displayName",
                  "emailAddresses", "businessPhones", "homePhones", "mobilePhone", "businessAddress", "birthday",
                  "personalNotes", "parentFolderId", "changeKey", "lastModifiedDateTime")
TASK_SELECT = ("title", "body", "dueDateTime", "reminderDateTime", "isReminderOn", "status", "importance")

# Graph's words (lower camel case, as it sends them) ↔ canonical words.
SHOW_AS_FROM_GRAPH = {"free": "free", "tentative": "tentative", "busy": "busy", "oof": "out_of_office",
                      "workingelsewhere": "busy"}
SHOW_AS_TO_GRAPH = {"free": "free", "tentative": "tentative", "busy": "busy", "out_of_office": "oof"}
PRIVATE_SENSITIVITIES = frozenset({"private", "confidential"})
TASK_STATUS_FROM_GRAPH = {"notstarted": "Not Started", "inprogress": "In Progress", "completed": "Completed",
                          "waitingonothers": "Waiting on someone else", "deferred": "Deferred"}
TASK_STATUS_TO_GRAPH = {"not started": "notStarted", "in progress": "inProgress", "completed": "completed",
                        "waiting on someone else": "waitingOnOthers", "deferred": "deferred"}

# Graph answers in the zone asked for with `Prefer: outlook.timezone`; the connector asks for UTC. Items written
# by other clients may still name a Windows zone: the common ones are known here (IANA names always work).
WINDOWS_ZONES = {
    "UTC": "UTC", "Coordinated Universal Time": "UTC", "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik", "W. Europe Standard Time": "Europe/Berlin",
    "Romance Standard Time": "Europe/Paris", "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw", "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev", "GTB Standard Time": "Europe/Bucharest",
    "Russian Standard Time": "Europe/Moscow", "Turkey Standard Time": "Europe/Istanbul",
    "Israel Standard Time": "Asia/Jerusalem", "South Africa Standard Time": "Africa/Johannesburg",
    "Arabian Standard Time": "Asia/Dubai", "India Standard Time": "Asia/Kolkata",
    "China Standard Time": "Asia/Shanghai", "Singapore Standard Time": "Asia/Singapore",
    "Tokyo Standard Time": "Asia/Tokyo", "Korea Standard Time": "Asia/Seoul",
    "AUS Eastern Standard Time": "Australia/Sydney", "E. Australia Standard Time": "Australia/Brisbane",
    "Cen. Australia Standard Time": "Australia/Adelaide", "W. Australia Standard Time": "Australia/Perth",
    "New Zealand Standard Time": "Pacific/Auckland", "Eastern Standard Time": "America/New_York",
    "Central Standard Time": "America/Chicago", "Mountain Standard Time": "America/Denver",
    "US Mountain Standard Time": "America/Phoenix", "Pacific Standard Time": "America/Los_Angeles",
    "Alaskan Standard Time": "America/Anchorage", "Hawaiian Standard Time": "Pacific/Honolulu",
    "Atlantic Standard Time": "America/Halifax", "Newfoundland Standard Time": "America/St_Johns",
    "E. South America Standard Time": "America/Sao_Paulo", "SA Pacific Standard Time": "America/Bogota",
    "Central Standard Time (Mexico)": "America/Mexico_City", "Argentina Standard Time": "America/Buenos_Aires",
}


# ---- value helpers ------------------------------------------------------------------------------------------------


def _zone(name: str | None) -> ZoneInfo | Any:
    if not name or name.upper() in ("UTC", "GMT", "Z"):
        return UTC
    try:
        return ZoneInfo(WINDOWS_ZONES.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _wall_clock(value: Any) -> datetime | None:
    """The naive wall-clock time of a Graph dateTimeTimeZone's ``dateTime`` (7 fractional digits allowed)."""
    if not value:
        return None
    text = str(value)
    if "." in text:  # Graph sends 100-ns ticks ("2026-03-10T08:30:00.0000000"): drop the fraction
        head, _, tail = text.partition(".")
        zone = next((tail[i:] for i, c in enumerate(tail) if c in "Z+-"), "")
        text = head + zone
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed


def instant(value: Mapping[str, Any] | None) -> datetime | None:
    """A Graph dateTimeTimeZone as an aware UTC datetime (whole seconds)."""
    if not value or not value.get("dateTime"):
        return None
    wall = _wall_clock(value["dateTime"])
    assert wall is not None
    if wall.tzinfo is None:
        wall = wall.replace(tzinfo=_zone(value.get("timeZone")))
    return datetime.fromtimestamp(int(wall.timestamp()), tz=UTC)


def wall_date(value: Mapping[str, Any] | None) -> date | None:
    """The calendar date of a Graph dateTimeTimeZone as written (all-day events: never shifted through UTC)."""
    if not value or not value.get("dateTime"):
        return None
    wall = _wall_clock(value["dateTime"])
    return wall.date() if wall is not None else None


def _nearest_date(value: Any) -> date | None:
    """A date that clients store as a local midnight (birthdays, To Do due dates), sent by Graph in UTC.

    A midnight east of Greenwich arrives as the evening before (22:00Z for UTC+2), one west of it as the same
    morning (05:00Z for UTC-5), Outlook's own birthdays as 11:59Z: the nearest midnight is the date meant.
    """
    if value is None or value == "":
        return None
    if isinstance(value, Mapping):
        wall = _wall_clock(value.get("dateTime"))
        if wall is None:
            return None
        if wall.tzinfo is None:
            wall = wall.replace(tzinfo=_zone(value.get("timeZone")))
    elif isinstance(value, datetime):
        wall = value
    elif isinstance(value, date):
        return value
    else:
        wall = _wall_clock(value)
        if wall is None:
            return None
    if wall.tzinfo is not None:
        wall = wall.astimezone(UTC)
    return (wall + timedelta(hours=12)).date()


def date_time_zone(value: datetime | date) -> dict[str, str]:
    """A Graph dateTimeTimeZone in UTC (a date becomes its midnight)."""
    utc = to_utc(value)
    assert utc is not None
    return {"dateTime": iso_wall(utc), "timeZone": "UTC"}


_UTC_ZONES = frozenset({"utc", "etc/utc", "gmt", "etc/gmt", "coordinated universal time", "tzone://microsoft/utc",
                        "tzone://microsoft/custom"})


def own_zone(item: Mapping[str, Any]) -> str | None:
    """A Graph event's own start zone (``originalStartTimeZone``: a Windows or IANA name), which an update of an
    all-day event keeps; None for none, UTC (what this product wrote before it knew its users' zones) or a custom
    zone Graph cannot be sent back."""
    zone = str(item.get("originalStartTimeZone") or "").strip()
    return zone if zone and zone.casefold() not in _UTC_ZONES else None


def midnight_in(day: date, time_zone: str = "") -> dict[str, str]:
    """A Graph dateTimeTimeZone for the midnight starting `day` in a zone (an all-day event's start or end)."""
    return {"dateTime": f"{day.isoformat()}T00:00:00", "timeZone": time_zone or "UTC"}


def body_text(body: Mapping[str, Any] | None) -> str | None:
    """Plain text of a Graph itemBody (HTML converted as for EWS)."""
    if not body:
        return None
    content = body.get("content")
    if content is None:
        return None
    text = html_to_text(str(content)) if str(body.get("contentType", "")).lower() == "html" else str(content)
    return clean_body(text)


def text_body(value: Any) -> dict[str, str]:
    return {"contentType": "text", "content": clean_body(value) or ""}


def extended_value(item: Mapping[str, Any], property_id: str) -> str | None:
    """The value of a single-value extended property Graph returned with the item (ids compare case-blind)."""
    wanted = property_id.casefold()
    for prop in item.get("singleValueExtendedProperties") or ():
        if str(prop.get("id", "")).casefold() == wanted:
            return clean(prop.get("value"))
    return None


def _first(values: Iterable[Any] | None) -> Any:
    for value in values or ():
        if value:
            return value
    return None


# ---- contacts ------------------------------------------------------------------------------------------------------


def contact_from_graph(item: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical contact fields from a Graph contact (the fax only if its extended property was expanded)."""
    first_email = _first(e.get("address") for e in item.get("emailAddresses") or () if isinstance(e, Mapping))
    email = clean(first_email)
    address = item.get("businessAddress") or {}
    return {
        "first_name": clean(item.get("givenName")),
        "last_name": clean(item.get("surname")),
        "email": email.lower() if email else None,
        "company": clean(item.get("companyName")),
        "title": clean(item.get("jobTitle")),
        "department": clean(item.get("department")),
        "business_phone": clean(_first(item.get("businessPhones"))),
        "mobile_phone": clean(item.get("mobilePhone")),
        "home_phone": clean(_first(item.get("homePhones"))),
        "fax": extended_value(item, FAX_PROPERTY),
        "street": clean_body(address.get("street")),
        "city": clean(address.get("city")),
        "state": clean(address.get("state")),
        "postal_code": clean(address.get("postalCode")),
        "country": clean(address.get("countryOrRegion")),
        "birthday": _nearest_date(item.get("birthday")),
        "notes": clean_body(item.get("personalNotes")),
    }


def contact_to_graph(fields: Mapping[str, Any], current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The Graph contact to POST or PATCH for canonical fields (every mapped property present; null clears).

    `current` is the contact as last read, if known: the first e-mail address, business and home phone are ours,
    the other entries of those collections (a second e-mail address, a second phone) are the user's and kept.
    """
    current = current or {}
    email = clean(fields.get("email"))
    first, last, company = (clean(fields.get(k)) for k in ("first_name", "last_name", "company"))
    emails = [e for e in current.get("emailAddresses") or () if isinstance(e, Mapping)][1:]
    if email:
        name = " ".join(n for n in (first, last) if n) or email.lower()
        emails.insert(0, {"address": email.lower(), "name": name})
    street = clean_body(fields.get("street"))
    return {
        "givenName": first,
        "surname": last,
        # Outlook lists contacts by display name: "First Last", else the company, as the EWS connector does.
        "displayName": " ".join(n for n in (first, last) if n) or company or (email.lower() if email else None)
        or "(no name)",
        "companyName": company,
        "jobTitle": clean(fields.get("title")),
        "department": clean(fields.get("department")),
        "emailAddresses": emails,
        "businessPhones": _replace_first(current.get("businessPhones"), clean(fields.get("business_phone"))),
        "homePhones": _replace_first(current.get("homePhones"), clean(fields.get("home_phone"))),
        "mobilePhone": clean(fields.get("mobile_phone")),
        "businessAddress": {"street": street, "city": clean(fields.get("city")),
                            "state": clean(fields.get("state")), "postalCode": clean(fields.get("postal_code")),
                            "countryOrRegion": clean(fields.get("country"))},
        "birthday": _birthday(fields.get("birthday")),
        "personalNotes": clean_body(fields.get("notes")),
        "singleValueExtendedProperties": [{"id": FAX_PROPERTY, "value": clean(fields.get("fax")) or ""}],
    }


def _replace_first(current: Iterable[Any] | None, value: str | None) -> list[str]:
    rest = list(current or ())[1:]
    return [value, *rest] if value else [v for v in rest if v]


def _birthday(value: Any) -> str | None:
    day = to_date(value)
    # Noon UTC: the same calendar date in every zone from UTC-12 to UTC+11, whoever shows it.
    return f"{day.isoformat()}T11:59:00Z" if day else None


# ---- events --------------------------------------------------------------------------------------------------------


def event_from_graph(item: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical event fields from a Graph event (all-day: dates as written, the end exclusive)."""
    all_day = bool(item.get("isAllDay"))
    if all_day:
        start: Any = wall_date(item.get("start"))
        end: Any = wall_date(item.get("end"))
    else:
        start, end = instant(item.get("start")), instant(item.get("end"))
    location = item.get("location") or {}
    return {
        "subject": clean(item.get("subject")),
        "location": clean(location.get("displayName")) if isinstance(location, Mapping) else clean(location),
        "start": start,
        "end": end,
        "is_all_day": all_day,
        "is_private": str(item.get("sensitivity") or "").lower() in PRIVATE_SENSITIVITIES,
        "show_as": SHOW_AS_FROM_GRAPH.get(str(item.get("showAs") or "").lower()),
        "description": body_text(item.get("body")),
    }


def event_to_graph(fields: Mapping[str, Any], time_zone: str = "") -> dict[str, Any]:
    """The Graph event to POST or PATCH for canonical event fields: times in UTC; an all-day event from midnight to
    midnight in `time_zone`, the owner's (a zone name Graph takes; blank: UTC), as Outlook there makes one."""
    all_day = bool(fields.get("is_all_day"))
    if all_day:
        start_day = to_date(fields.get("start"))
        end_day = to_date(fields.get("end"))
        if start_day is not None and (end_day is None or end_day <= start_day):
            end_day = start_day + timedelta(days=1)  # Graph refuses an all-day event shorter than a day
        start: Any = start_day
        end: Any = end_day
    else:
        start, end = to_utc(fields.get("start")), to_utc(fields.get("end"))
        if start is not None and (end is None or end < start):
            end = start
    show_as = clean(fields.get("show_as"))
    out: dict[str, Any] = {
        "subject": clean(fields.get("subject")),
        "body": text_body(fields.get("description")),
        "isAllDay": all_day,
        "location": {"displayName": clean(fields.get("location")) or ""},
        "showAs": SHOW_AS_TO_GRAPH.get(show_as.lower() if show_as else "", "busy"),
        "sensitivity": "private" if fields.get("is_private") else "normal",
    }
    if start is not None:
        out["start"] = midnight_in(start, time_zone) if all_day else date_time_zone(start)
    if end is not None:
        out["end"] = midnight_in(end, time_zone) if all_day else date_time_zone(end)
    if fields.get("recurrence") and start is not None:
        # A series (series synced as series): written on its master; a plain event never carries the key, so
        # that a PATCH of an occurrence never names a property occurrences do not have.
        series = Recurrence.parse(fields["recurrence"])
        first = start if not isinstance(start, datetime) else start.astimezone(_zone(series.tz)).date()
        out["recurrence"] = recurrence_to_graph(series, first)
    return out


# ---- recurring series (a master synced as one record) ----------------------------------------------------------
_GRAPH_PATTERNS = {"daily": "daily", "weekly": "weekly", "monthly": "absoluteMonthly",
                   "monthly_nth": "relativeMonthly", "yearly": "absoluteYearly", "yearly_nth": "relativeYearly"}
_GRAPH_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")  # index = DAYS'


def recurrence_from_graph(recurrence: Mapping[str, Any] | None, zone_name: str | None = None) -> Recurrence | None:
    """A Graph patternedRecurrence as the canonical recurrence (`zone_name`: the series' IANA zone when Graph named a
    Windows one); None for none or a pattern the canonical form has no equivalent of. A series without an end is
    returned without one (Salesforce cannot hold it: ``fits_salesforce`` says so)."""
    if not isinstance(recurrence, Mapping):
        return None
    pattern, span = recurrence.get("pattern") or {}, recurrence.get("range") or {}
    ours = {v.lower(): k for k, v in _GRAPH_PATTERNS.items()}.get(str(pattern.get("type") or "").lower())
    if ours is None:
        return None
    days = [DAYS[_GRAPH_DAYS.index(str(d).lower())] for d in pattern.get("daysOfWeek") or ()
            if str(d).lower() in _GRAPH_DAYS]
    ending: dict[str, Any] = {}
    kind = str(span.get("type") or "").lower()
    if kind == "enddate" and span.get("endDate") and str(span["endDate"]) != "0001-01-01":
        ending["until"] = str(span["endDate"])[:10]
    elif kind == "numbered" and span.get("numberOfOccurrences"):
        ending["count"] = int(span["numberOfOccurrences"])
    tz = zone_name or span.get("recurrenceTimeZone") or None
    tz = WINDOWS_ZONES.get(tz, tz) if tz else None
    try:
        return Recurrence.of(ours, interval=int(pattern.get("interval") or 1), days=days,
                             day=pattern.get("dayOfMonth") or None, month=pattern.get("month") or None,
                             instance=str(pattern.get("index") or "first").lower() if ours.endswith("_nth") else None,
                             tz=tz, **ending)
    except (ValueError, TypeError):
        return None


def recurrence_to_graph(series: Recurrence, first: date) -> dict[str, Any]:
    """The Graph patternedRecurrence of a canonical series whose first occurrence is on `first` (weeks start on
    Sunday, as Salesforce counts them; the range's zone is the series' IANA zone, which the connector may rename)."""
    pattern: dict[str, Any] = {"type": _GRAPH_PATTERNS[series.pattern], "interval": series.interval,
                               "firstDayOfWeek": "sunday"}
    if series.days:
        pattern["daysOfWeek"] = [_GRAPH_DAYS[DAYS.index(d)] for d in series.days]
    if series.day is not None:
        pattern["dayOfMonth"] = series.day
    if series.month is not None:
        pattern["month"] = series.month
    if series.instance is not None:
        pattern["index"] = series.instance if series.instance in INSTANCES else "first"
    span: dict[str, Any] = {"startDate": first.isoformat(), "recurrenceTimeZone": series.tz or "UTC"}
    if series.until is not None:
        span.update(type="endDate", endDate=series.until.isoformat())
    elif series.count is not None:
        span.update(type="numbered", numberOfOccurrences=series.count)
    else:
        span["type"] = "noEnd"
    return {"pattern": pattern, "range": span}


def series_fields(series: Recurrence, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A master's canonical fields as one series record: the recurrence text, start and end at the first
    occurrence."""
    start, end = first_occurrence(series, fields.get("start"), fields.get("end"))
    return {**fields, "recurrence": series.text(), "start": start, "end": end}


def event_categories(item: Mapping[str, Any]) -> list[str]:
    return [str(c) for c in item.get("categories") or () if c]


def event_attendees(item: Mapping[str, Any]) -> list[str]:
    """The attendees' e-mail addresses (required, optional and resources), lower-cased, in the item's order."""
    out = []
    for attendee in item.get("attendees") or ():
        address = clean(((attendee or {}).get("emailAddress") or {}).get("address"))
        if address:
            out.append(address.lower())
    return list(dict.fromkeys(out))


def event_organizer(item: Mapping[str, Any]) -> str | None:
    address = clean(((item.get("organizer") or {}).get("emailAddress") or {}).get("address"))
    return address.lower() if address else None


def event_is_private(item: Mapping[str, Any]) -> bool:
    return str(item.get("sensitivity") or "").lower() in PRIVATE_SENSITIVITIES


def event_span(item: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """Start and end of an event as UTC instants (all-day: UTC midnights of its dates), for window tests."""
    fields = event_from_graph({k: item.get(k) for k in ("start", "end", "isAllDay")})
    return to_utc(fields["start"]), to_utc(fields["end"])


# ---- tasks ---------------------------------------------------------------------------------------------------------


def task_from_graph(item: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical task fields from a Microsoft To Do task."""
    importance = str(item.get("importance") or "").lower()
    return {
        "subject": clean(item.get("title")),
        "due_date": _nearest_date(item.get("dueDateTime")),
        "status": TASK_STATUS_FROM_GRAPH.get(str(item.get("status") or "").lower()),
        "priority": next((p for p in PRIORITIES if p.lower() == importance), None),
        "reminder_at": instant(item.get("reminderDateTime")) if item.get("isReminderOn") else None,
        "description": body_text(item.get("body")),
    }


def task_to_graph(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The To Do task to POST or PATCH (unknown status → notStarted, priority → normal)."""
    status = clean(fields.get("status"))
    priority = clean(fields.get("priority"))
    due = to_date(fields.get("due_date"))
    reminder = to_utc(fields.get("reminder_at"))
    return {
        "title": clean(fields.get("subject")),
        "body": text_body(fields.get("description")),
        "dueDateTime": date_time_zone(due) if due else None,
        "status": TASK_STATUS_TO_GRAPH.get(status.casefold() if status else "", "notStarted"),
        "importance": next((p.lower() for p in PRIORITIES if priority and p.casefold() == priority.casefold()),
                           "normal"),
        "isReminderOn": reminder is not None,
        "reminderDateTime": date_time_zone(reminder) if reminder else None,
    }


FROM_GRAPH = {SyncObject.CONTACTS: contact_from_graph, SyncObject.EVENTS: event_from_graph,
              SyncObject.TASKS: task_from_graph}


def to_graph(object_type: SyncObject, fields: Mapping[str, Any],
             current: Mapping[str, Any] | None = None, *, time_zone: str = "") -> dict[str, Any]:
    """The Graph JSON to write for canonical fields of an object (`current`: contacts only, see contact_to_graph;
    `time_zone`: the mailbox owner's, for all-day events)."""
    if object_type is SyncObject.CONTACTS:
        return contact_to_graph(fields, current)
    if object_type is SyncObject.EVENTS:
        return event_to_graph(fields, time_zone)
    return task_to_graph(fields)


# Canonical fields Graph does not map (for ``Schema.without``): none.
UNMAPPED: dict[SyncObject, frozenset[str]] = {o: frozenset() for o in SyncObject}
