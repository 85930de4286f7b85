"""Field map between canonical records (sync.engine.canonical) and Exchange items as exchangelib models them.

Pure: no exchangelib, no Django, no I/O. The EWS connector turns an exchangelib item into an *EWS view* (a plain
dict keyed by exchangelib field names, indexed fields as small dicts) and back; this module converts EWS views
to canonical fields and canonical fields to EWS views.

EWS view shapes (what the connector reads from / writes to exchangelib):

- contacts: ``given_name``, ``surname``, ``company_name``, ``job_title``, ``department`` (str);
  ``email_addresses`` {"EmailAddress1": str}; ``phone_numbers`` {"BusinessPhone"|"MobilePhone"|"HomePhone"|
  "BusinessFax": str}; ``physical_addresses`` {"Business": {"street", "city", "state", "zipcode", "country"}};
  ``birthday`` (date); ``body`` (str) with ``body_is_html`` (bool).
- events: ``subject``, ``location`` (str); ``start``/``end``: aware datetimes, or for all-day events dates in
  exchangelib's convention (``end`` is the *last* day, inclusive; EWS itself sends the following midnight);
  ``is_all_day`` (bool); ``legacy_free_busy_status``; ``sensitivity``; ``body``/``body_is_html``; ``recurrence``
  (a master synced as one record: ``sync.engine.recurrence.Recurrence``, else absent or None).
- tasks: ``subject``; ``due_date`` (date); ``status``; ``importance``; ``reminder_is_set`` (bool);
  ``reminder_due_by`` (aware datetime); ``body``/``body_is_html``.

Canonical conventions fixed here (the Salesforce mapping uses the same):
- an all-day event's canonical ``end`` is the day *after* its last day (exclusive, like the EWS wire and
  iCalendar): a one-day holiday on 2 March is start 2026-03-02, end 2026-03-03;
- ``show_as`` is one of "busy", "free", "out_of_office", "tentative" (EWS "WorkingElsewhere" reads as "busy";
  "NoData" as nothing);
- task ``status`` and ``priority`` are Salesforce picklist values ("Not Started", "In Progress", "Completed",
  "Waiting on someone else", "Deferred"; "High", "Normal", "Low").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sync.engine.records import SyncObject
from sync.engine.recurrence import Recurrence, first_occurrence
from sync.mappings.datetimes import to_date, to_utc
from sync.mappings.outlook import PRIORITIES, clean, clean_body, html_to_text

# ---- the field correspondence (documentation and the connector's list of exchangelib fields) -------------------


@dataclass(frozen=True, slots=True)
class FieldMap:
    """One canonical field and where it lives on an exchangelib item (``field`` plus an index label if indexed)."""

    canonical: str
    ews_field: str
    label: str | None = None
    sub_field: str | None = None


CONTACT_MAP: tuple[FieldMap, ...] = (
    FieldMap("first_name", "given_name"),
    FieldMap("last_name", "surname"),
    FieldMap("email", "email_addresses", "EmailAddress1"),
    FieldMap("company", "company_name"),
    FieldMap("title", "job_title"),
    FieldMap("department", "department"),
    FieldMap("business_phone", "phone_numbers", "BusinessPhone"),
    FieldMap("mobile_phone", "phone_numbers", "MobilePhone"),
    FieldMap("home_phone", "phone_numbers", "HomePhone"),
    FieldMap("fax", "phone_numbers", "BusinessFax"),
    FieldMap("street", "physical_addresses", "Business", "street"),
    FieldMap("city", "physical_addresses", "Business", "city"),
    FieldMap("state", "physical_addresses", "Business", "state"),
    FieldMap("postal_code", "physical_addresses", "Business", "zipcode"),
    FieldMap("country", "physical_addresses", "Business", "country"),
    FieldMap("birthday", "birthday"),
    FieldMap("notes", "body"),
)

EVENT_MAP: tuple[FieldMap, ...] = (
    FieldMap("subject", "subject"),
    FieldMap("location", "location"),
    FieldMap("start", "start"),
    FieldMap("end", "end"),
    FieldMap("is_all_day", "is_all_day"),
    FieldMap("is_private", "sensitivity"),
    FieldMap("show_as", "legacy_free_busy_status"),
    FieldMap("description", "body"),
    FieldMap("recurrence", "recurrence"),  # a series: the connector turns exchangelib's Recurrence into ours
)

TASK_MAP: tuple[FieldMap, ...] = (
    FieldMap("subject", "subject"),
    FieldMap("due_date", "due_date"),
    FieldMap("status", "status"),
    FieldMap("priority", "importance"),
    FieldMap("reminder_at", "reminder_due_by"),
    FieldMap("description", "body"),
)

FIELD_MAPS: dict[SyncObject, tuple[FieldMap, ...]] = {
    SyncObject.CONTACTS: CONTACT_MAP,
    SyncObject.EVENTS: EVENT_MAP,
    SyncObject.TASKS: TASK_MAP,
}

# Canonical fields EWS does not map, per object (for ``Schema.without``). Every canonical field has a home in EWS
# today; the sets exist so that the orchestration never has to special-case this side.
UNMAPPED: dict[SyncObject, frozenset[str]] = {
    SyncObject.CONTACTS: frozenset(),
    SyncObject.EVENTS: frozenset(),
    SyncObject.TASKS: frozenset(),
}

# exchangelib field names the connector must fetch per object (besides id/changekey and the Salesforce id).
EWS_FIELDS: dict[SyncObject, tuple[str, ...]] = {
    SyncObject.CONTACTS: ("given_name", "surname", "email_addresses", "company_name", "job_title", "department",
                          "phone_numbers", "physical_addresses", "birthday", "body"),
    # The zones and the duration too: exchangelib reads an all-day event's dates in its own zone (without them, in
    # the machine's: one made east of UTC would read a day early), and its end from the duration (convert.py).
    SyncObject.EVENTS: ("subject", "location", "start", "end", "is_all_day", "legacy_free_busy_status",
                        "sensitivity", "body", "categories", "organizer", "type", "uid", "_start_timezone",
                        "_end_timezone", "duration"),
    SyncObject.TASKS: ("subject", "due_date", "status", "importance", "reminder_is_set", "reminder_due_by", "body"),
}

PHONE_LABELS = {"business_phone": "BusinessPhone", "mobile_phone": "MobilePhone", "home_phone": "HomePhone",
                "fax": "BusinessFax"}
ADDRESS_PARTS = {"street": "street", "city": "city", "state": "state", "postal_code": "zipcode",
                 "country": "country"}

SHOW_AS_FROM_EWS = {"Free": "free", "Tentative": "tentative", "Busy": "busy", "OOF": "out_of_office",
                    "WorkingElsewhere": "busy"}
SHOW_AS_TO_EWS = {"free": "Free", "tentative": "Tentative", "busy": "Busy", "out_of_office": "OOF"}

TASK_STATUS_FROM_EWS = {"NotStarted": "Not Started", "InProgress": "In Progress", "Completed": "Completed",
                        "WaitingOnOthers": "Waiting on someone else", "Deferred": "Deferred"}
TASK_STATUS_TO_EWS = {v.casefold(): k for k, v in TASK_STATUS_FROM_EWS.items()}
PRIVATE_SENSITIVITIES = frozenset({"Private", "Confidential"})


# ---- bodies --------------------------------------------------------------------------------------------------------


def body_text(view: Mapping[str, Any]) -> str | None:
    """The plain text of an EWS view's body (HTML converted), or None when blank."""
    body = view.get("body")
    if body is None:
        return None
    return clean_body(html_to_text(str(body)) if view.get("body_is_html") else str(body))


# ---- contacts ------------------------------------------------------------------------------------------------------


def contact_from_ews(view: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical contact fields from a contact's EWS view."""
    emails = view.get("email_addresses") or {}
    phones = view.get("phone_numbers") or {}
    address = (view.get("physical_addresses") or {}).get("Business") or {}
    email = clean(emails.get("EmailAddress1"))
    out: dict[str, Any] = {
        "first_name": clean(view.get("given_name")),
        "last_name": clean(view.get("surname")),
        "email": email.lower() if email else None,
        "company": clean(view.get("company_name")),
        "title": clean(view.get("job_title")),
        "department": clean(view.get("department")),
        "birthday": to_date(view.get("birthday")),
        "notes": body_text(view),
    }
    for name, label in PHONE_LABELS.items():
        out[name] = clean(phones.get(label))
    for name, part in ADDRESS_PARTS.items():
        out[name] = clean_body(address.get(part)) if name == "street" else clean(address.get(part))
    return out


def contact_to_ews(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The EWS view to write for canonical contact fields (every mapped field present; None clears it)."""
    email = clean(fields.get("email"))
    address = {part: clean_body(fields.get(name)) if name == "street" else clean(fields.get(name))
               for name, part in ADDRESS_PARTS.items()}  # the street may hold several lines
    phones = {label: clean(fields.get(name)) for name, label in PHONE_LABELS.items()}
    return {
        "given_name": clean(fields.get("first_name")),
        "surname": clean(fields.get("last_name")),
        "email_addresses": {"EmailAddress1": email.lower()} if email else {},
        "company_name": clean(fields.get("company")),
        "job_title": clean(fields.get("title")),
        "department": clean(fields.get("department")),
        "phone_numbers": {label: number for label, number in phones.items() if number},
        "physical_addresses": {"Business": address} if any(address.values()) else {},
        "birthday": to_date(fields.get("birthday")),
        "body": clean_body(fields.get("notes")),
        "body_is_html": False,
    }


# ---- events --------------------------------------------------------------------------------------------------------


def event_from_ews(view: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical event fields from an event's EWS view (all-day ends become exclusive dates)."""
    all_day = bool(view.get("is_all_day"))
    start, end = view.get("start"), view.get("end")
    if all_day:
        start_date, last_day = to_date(start), to_date(end)
        if isinstance(end, datetime):  # a raw wire value: already the following midnight
            last_day = last_day - timedelta(days=1) if last_day else None
        start_out: Any = start_date
        end_out: Any = (last_day + timedelta(days=1)) if last_day else None
    else:
        start_out, end_out = to_utc(start), to_utc(end)
    return {
        "subject": clean(view.get("subject")),
        "location": clean(view.get("location")),
        "start": start_out,
        "end": end_out,
        "is_all_day": all_day,
        "is_private": view.get("sensitivity") in PRIVATE_SENSITIVITIES,
        "show_as": SHOW_AS_FROM_EWS.get(view.get("legacy_free_busy_status") or ""),
        "description": body_text(view),
        **_series_from_ews(view.get("recurrence"), start_out, end_out),
    }


def _series_from_ews(series: Recurrence | None, start: Any, end: Any) -> dict[str, Any]:
    if series is None:
        return {}
    start, end = first_occurrence(series, start, end)
    return {"recurrence": series.text(), "start": start, "end": end}


def event_to_ews(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The EWS view to write for canonical event fields.

    Timed events get UTC datetimes; all-day events get dates in exchangelib's convention (inclusive last day).
    """
    all_day = bool(fields.get("is_all_day"))
    if all_day:
        start = to_date(fields.get("start"))
        end_exclusive = to_date(fields.get("end"))
        last_day = end_exclusive - timedelta(days=1) if end_exclusive else start
        if start is not None and (last_day is None or last_day < start):
            last_day = start
        start_out: Any = start
        end_out: Any = last_day
    else:
        start_out = to_utc(fields.get("start"))
        end_out = to_utc(fields.get("end"))
        if start_out is not None and (end_out is None or end_out < start_out):
            end_out = start_out
    show_as = clean(fields.get("show_as"))
    return {
        "subject": clean(fields.get("subject")),
        "location": clean(fields.get("location")),
        "start": start_out,
        "end": end_out,
        "is_all_day": all_day,
        "sensitivity": "Private" if fields.get("is_private") else "Normal",
        "legacy_free_busy_status": SHOW_AS_TO_EWS.get(show_as.lower() if show_as else "", "Busy"),
        "body": clean_body(fields.get("description")),
        "body_is_html": False,
        "recurrence": Recurrence.parse(fields["recurrence"]) if fields.get("recurrence") else None,
    }


# ---- tasks ---------------------------------------------------------------------------------------------------------


def task_from_ews(view: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical task fields from a task's EWS view."""
    importance = view.get("importance")
    return {
        "subject": clean(view.get("subject")),
        "due_date": to_date(view.get("due_date")),
        "status": TASK_STATUS_FROM_EWS.get(view.get("status") or ""),
        "priority": importance if importance in PRIORITIES else None,
        "reminder_at": to_utc(view.get("reminder_due_by")) if view.get("reminder_is_set") else None,
        "description": body_text(view),
    }


def task_to_ews(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The EWS view to write for canonical task fields (unknown status → NotStarted, priority → Normal)."""
    status = clean(fields.get("status"))
    priority = clean(fields.get("priority"))
    reminder = to_utc(fields.get("reminder_at"))
    return {
        "subject": clean(fields.get("subject")),
        "due_date": to_date(fields.get("due_date")),
        "status": TASK_STATUS_TO_EWS.get(status.casefold() if status else "", "NotStarted"),
        "importance": next((p for p in PRIORITIES if priority and p.casefold() == priority.casefold()), "Normal"),
        "reminder_is_set": reminder is not None,
        "reminder_due_by": reminder,
        "body": clean_body(fields.get("description")),
        "body_is_html": False,
        "recurrence": Recurrence.parse(fields["recurrence"]) if fields.get("recurrence") else None,
    }


FROM_EWS = {SyncObject.CONTACTS: contact_from_ews, SyncObject.EVENTS: event_from_ews,
            SyncObject.TASKS: task_from_ews}
TO_EWS = {SyncObject.CONTACTS: contact_to_ews, SyncObject.EVENTS: event_to_ews, SyncObject.TASKS: task_to_ews}

