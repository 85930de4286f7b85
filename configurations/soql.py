"""Data sets compiled to SOQL: a pure function of the data set, the synced user's Salesforce id and "now".

Fields are checked against a per-object allow-list that also gives each field's type, so every value is written
as the literal of that type: strings are quoted and escaped (and for LIKE, ``%`` and ``_`` are escaped too),
numbers, dates and booleans are parsed and re-printed. Nothing a user types is ever pasted into the query.
No database access here: the sync engine, the console preview and the tests call it alike.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any


class FieldType(StrEnum):
    STRING = "string"
    ID = "id"
    BOOLEAN = "boolean"
    INTEGER = "integer"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"


S, ID, B, I, N, D, DT = (  # noqa: E741 - short aliases keep the tables below readable
    FieldType.STRING,
    FieldType.ID,
    FieldType.BOOLEAN,
    FieldType.INTEGER,
    FieldType.NUMBER,
    FieldType.DATE,
    FieldType.DATETIME,
)

SOBJECTS = {"contacts": "Contact", "events": "Event", "tasks": "Task"}

# The fields a data set may filter on, per object, with their types.
ALLOWED_FIELDS: dict[str, dict[str, FieldType]] = {
    "contacts": {
        "Id": ID, "AccountId": ID, "OwnerId": ID, "ReportsToId": ID,
        "FirstName": S, "LastName": S, "Name": S, "Salutation": S, "Title": S, "Department": S, "Email": S,
        "Phone": S, "MobilePhone": S, "HomePhone": S, "OtherPhone": S, "Fax": S, "AssistantName": S,
        "AssistantPhone": S, "LeadSource": S, "Description": S,
        "MailingStreet": S, "MailingCity": S, "MailingState": S, "MailingPostalCode": S, "MailingCountry": S,
        "OtherStreet": S, "OtherCity": S, "OtherState": S, "OtherPostalCode": S, "OtherCountry": S,
        "Birthdate": D, "HasOptedOutOfEmail": B, "DoNotCall": B, "HasOptedOutOfFax": B,
        "CreatedDate": DT, "LastModifiedDate": DT, "LastActivityDate": D,
        "Account.Name": S, "Account.Type": S, "Account.Industry": S, "Account.BillingCountry": S,
        "Account.BillingCity": S, "Account.Rating": S, "Account.OwnerId": ID,
        "Account.AnnualRevenue": N, "Account.NumberOfEmployees": I,
    },
    "events": {
        "Id": ID, "WhoId": ID, "WhatId": ID, "OwnerId": ID, "AccountId": ID,
        "Subject": S, "Location": S, "Description": S, "ShowAs": S, "Type": S,
        "IsAllDayEvent": B, "IsPrivate": B, "IsRecurrence": B, "IsChild": B,
        "ActivityDate": D, "StartDateTime": DT, "EndDateTime": DT, "DurationInMinutes": I,
        "CreatedDate": DT, "LastModifiedDate": DT,
    },
    "tasks": {
        "Id": ID, "WhoId": ID, "WhatId": ID, "OwnerId": ID, "AccountId": ID,
        "Subject": S, "Description": S, "Status": S, "Priority": S, "Type": S, "CallType": S,
        "IsClosed": B, "IsHighPriority": B, "IsRecurrence": B,
        "ActivityDate": D, "ReminderDateTime": DT, "CreatedDate": DT, "LastModifiedDate": DT,
        "CallDurationInSeconds": I,
    },
}

# The fields' labels as Salesforce shows them (its standard labels; the form shows the API name beside them).
FIELD_LABELS: dict[str, dict[str, str]] = {
    "contacts": {
        "Id": "Contact ID", "AccountId": "Account ID", "OwnerId": "Contact Owner ID", "ReportsToId": "Reports To ID",
        "FirstName": "First Name", "LastName": "Last Name", "Name": "Full Name", "Salutation": "Salutation",
        "Title": "Title", "Department": "Department", "Email": "Email", "Phone": "Business Phone",
        "MobilePhone": "Mobile Phone", "HomePhone": "Home Phone", "OtherPhone": "Other Phone", "Fax": "Business Fax",
        "AssistantName": "Assistant's Name", "AssistantPhone": "Asst. Phone", "LeadSource": "Lead Source",
        "Description": "Contact Description",
        "MailingStreet": "Mailing Street", "MailingCity": "Mailing City", "MailingState": "Mailing State/Province",
        "MailingPostalCode": "Mailing Zip/Postal Code", "MailingCountry": "Mailing Country",
        "OtherStreet": "Other Street", "OtherCity": "Other City", "OtherState": "Other State/Province",
        "OtherPostalCode": "Other Zip/Postal Code", "OtherCountry": "Other Country",
        "Birthdate": "Birthdate", "HasOptedOutOfEmail": "Email Opt Out", "DoNotCall": "Do Not Call",
        "HasOptedOutOfFax": "Fax Opt Out", "CreatedDate": "Created Date", "LastModifiedDate": "Last Modified Date",
        "LastActivityDate": "Last Activity",
        "Account.Name": "Account: Account Name", "Account.Type": "Account: Account Type",
        "Account.Industry": "Account: Industry", "Account.BillingCountry": "Account: Billing Country",
        "Account.BillingCity": "Account: Billing City", "Account.Rating": "Account: Account Rating",
        "Account.OwnerId": "Account: Account Owner ID", "Account.AnnualRevenue": "Account: Annual Revenue",
        "Account.NumberOfEmployees": "Account: Employees",
    },
    "events": {
        "Id": "Activity ID", "WhoId": "Name ID", "WhatId": "Related To ID", "OwnerId": "Assigned To ID",
        "AccountId": "Account ID", "Subject": "Subject", "Location": "Location", "Description": "Description",
        "ShowAs": "Show Time As", "Type": "Type", "IsAllDayEvent": "All-Day Event", "IsPrivate": "Private",
        "IsRecurrence": "Create Recurring Series of Events", "IsChild": "Is Child", "ActivityDate": "Due Date Only",
        "StartDateTime": "Start Date Time", "EndDateTime": "End Date Time", "DurationInMinutes": "Duration",
        "CreatedDate": "Created Date", "LastModifiedDate": "Last Modified Date",
    },
    "tasks": {
        "Id": "Activity ID", "WhoId": "Name ID", "WhatId": "Related To ID", "OwnerId": "Assigned To ID",
        "AccountId": "Account ID", "Subject": "Subject", "Description": "Description", "Status": "Status",
        "Priority": "Priority", "Type": "Type", "CallType": "Call Type", "IsClosed": "Closed",
        "IsHighPriority": "High Priority", "IsRecurrence": "Create Recurring Series of Tasks",
        "ActivityDate": "Due Date Only", "ReminderDateTime": "Reminder Date/Time", "CreatedDate": "Created Date",
        "LastModifiedDate": "Last Modified Date", "CallDurationInSeconds": "Call Duration",
    },
}

OPERATORS = ("equals", "not_equals", "contains", "starts_with", "in", "greater_than", "less_than", "is_empty")
# Which operators make sense for which field types.
_OPERATORS_BY_TYPE = {
    S: set(OPERATORS),
    ID: {"equals", "not_equals", "in", "is_empty"},
    B: {"equals", "not_equals"},
    I: {"equals", "not_equals", "in", "greater_than", "less_than", "is_empty"},
    N: {"equals", "not_equals", "in", "greater_than", "less_than", "is_empty"},
    D: {"equals", "not_equals", "in", "greater_than", "less_than", "is_empty"},
    DT: {"equals", "not_equals", "greater_than", "less_than", "is_empty"},
}
_COMPARISON = {"equals": "=", "not_equals": "!=", "greater_than": ">", "less_than": "<"}


def field_type(sync_object: str, field: Any) -> FieldType | None:
    """The type of a field a data set may filter on, or None for a field it may not."""
    return ALLOWED_FIELDS.get(sync_object, {}).get(field) if isinstance(field, str) else None


def operators_for(field_type: FieldType | None) -> tuple[str, ...]:
    """The operators a field of this type takes, in the order of OPERATORS (all of them for no type yet)."""
    allowed = _OPERATORS_BY_TYPE.get(field_type, set(OPERATORS)) if field_type else set(OPERATORS)
    return tuple(op for op in OPERATORS if op in allowed)

MAX_FILTERS = 20
MAX_IN_VALUES = 200
MAX_VALUE_LENGTH = 255
# Salesforce's range for date and dateTime values: a literal outside it makes the whole query fail at Salesforce, so
# a data set is refused here instead (which also keeps every literal four digits of year, never year 1 or 9999
# shifted past the calendar's edge by an offset).
EARLIEST = datetime(1700, 1, 1, tzinfo=UTC)
LATEST = datetime(4000, 12, 31, tzinfo=UTC)
_OUT_OF_RANGE = ("That {what} is outside the range Salesforce accepts; enter one between "
                 f"{EARLIEST.date().isoformat()} and {LATEST.date().isoformat()}.")

_ID = re.compile(r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?\Z")
_INTEGER = re.compile(r"^-?\d{1,18}\Z", re.ASCII)
_DECIMAL = re.compile(r"^-?\d{1,18}(?:\.\d{1,10})?\Z", re.ASCII)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z", re.ASCII)
# SOQL string escapes; every other control character is refused rather than escaped.
_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_LIKE_ESCAPES = {**_ESCAPES, "%": "\\%", "_": "\\_"}
_FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x07\x0b\x0e-\x1f\x7f]")


class DataSetError(ValueError):
    """The data set cannot compile; ``errors`` maps the offending part to messages (the API's shape)."""

    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors


class _ValueError(Exception):
    pass


def escape_string(value: str, like: bool = False) -> str:
    """The body of a SOQL string literal (without quotes) for ``value``."""
    table = _LIKE_ESCAPES if like else _ESCAPES
    return "".join(table.get(char, char) for char in value)


def quote(value: str, like_prefix: str = "", like_suffix: str = "") -> str:
    like = bool(like_prefix or like_suffix)
    return f"'{like_prefix}{escape_string(value, like=like)}{like_suffix}'"


def datetime_literal(moment: datetime) -> str:
    """The SOQL dateTime literal of ``moment`` in UTC (naive means UTC), its year always four digits: ``strftime``
    writes year 1 as ``1`` on Linux, which SOQL does not read. Raises OverflowError when the moment in UTC falls
    outside the calendar (year 1 with a positive offset, year 9999 with a negative one)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
            f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z")


def _literal(field_type: FieldType, value: Any) -> str:
    """The SOQL literal of ``value`` for a field of ``field_type``; raises _ValueError with a message."""
    if field_type is S:
        if not isinstance(value, str):
            raise _ValueError("Enter text.")
        _check_text(value)
        return quote(value)
    if field_type is ID:
        if not isinstance(value, str) or not _ID.match(value):
            raise _ValueError("Enter a 15- or 18-character Salesforce id.")
        return quote(value)
    if field_type is B:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower()
        raise _ValueError("Enter true or false.")
    if field_type is I:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**18:
            return str(value)
        if isinstance(value, str) and _INTEGER.match(value):
            return str(int(value))
        raise _ValueError("Enter a whole number.")
    if field_type is N:
        if isinstance(value, bool):
            raise _ValueError("Enter a number.")
        if isinstance(value, int) and abs(value) < 10**18:
            return str(value)
        if isinstance(value, float) and math.isfinite(value) and abs(value) < 1e18:
            value = repr(value)
        if isinstance(value, str) and _DECIMAL.match(value):
            try:
                return format(Decimal(value), "f")
            except InvalidOperation:  # pragma: no cover - the pattern already guarantees a decimal
                pass
        raise _ValueError("Enter a number.")
    if field_type is D:
        if isinstance(value, str) and _DATE.match(value):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                pass
            else:
                if not EARLIEST.date() <= day <= LATEST.date():
                    raise _ValueError(_OUT_OF_RANGE.format(what="date"))
                return day.isoformat()
        raise _ValueError("Enter a date as YYYY-MM-DD.")
    if field_type is DT:
        if isinstance(value, str) and len(value) <= 40:
            try:
                if _DATE.match(value):
                    moment = datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
                else:
                    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
                    moment = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
            except ValueError:
                pass
            except OverflowError:  # the offset moves the moment off the calendar (year 0 or 10000)
                raise _ValueError(_OUT_OF_RANGE.format(what="date and time")) from None
            else:
                if not EARLIEST <= moment <= LATEST:
                    raise _ValueError(_OUT_OF_RANGE.format(what="date and time"))
                return datetime_literal(moment)
        raise _ValueError("Enter a date and time as YYYY-MM-DDTHH:MM:SSZ.")
    raise _ValueError("Unsupported field type.")  # pragma: no cover


def _check_text(value: str) -> None:
    if len(value) > MAX_VALUE_LENGTH:
        raise _ValueError(f"Enter at most {MAX_VALUE_LENGTH} characters.")
    if _FORBIDDEN_CHARACTERS.search(value):
        raise _ValueError("Control characters are not allowed.")


def _compile_filter(sync_object: str, item: Any) -> tuple[str | None, dict[str, list[str]]]:
    """One filter as a SOQL condition, or the errors per key of the filter."""
    if not isinstance(item, dict):
        return None, {"non_field_errors": ["Enter a filter as {\"field\", \"op\", \"value\"}."]}
    errors: dict[str, list[str]] = {}
    for key in sorted(set(item) - {"field", "op", "value"}):
        errors[str(key)] = ["Unknown key; a filter has field, op and value."]
    field, op, value = item.get("field"), item.get("op"), item.get("value")
    fields = ALLOWED_FIELDS[sync_object]
    # Short sentences: the allowed fields (about 50 for contacts) are in the form's list and in the API schema.
    if field in (None, ""):
        errors["field"] = ["Choose a field to filter on."]
    elif not isinstance(field, str) or field not in fields:
        shown = str(field)[:80]
        errors["field"] = [f"Unknown field for {sync_object}: {shown!r} cannot be filtered on; choose a field of "
                           "the list (the API schema names them under the filter's field)."]
    if not isinstance(op, str) or op not in OPERATORS:
        errors["op"] = [f"Unknown operator; choose one of: {', '.join(OPERATORS)}."]
    if errors:
        return None, errors
    field_type = fields[field]
    if op not in _OPERATORS_BY_TYPE[field_type]:
        allowed = ", ".join(operators_for(field_type))
        return None, {"op": [f"{op} does not apply to {field} (a {field_type} field); choose one of: {allowed}."]}
    try:
        if op in _COMPARISON:
            if value is None:
                raise _ValueError("Enter a value (use is_empty to match empty fields).")
            return f"{field} {_COMPARISON[op]} {_literal(field_type, value)}", {}
        if op in ("contains", "starts_with"):
            if not isinstance(value, str) or not value:
                raise _ValueError("Enter some text.")
            _check_text(value)
            return f"{field} LIKE {quote(value, like_prefix='%' if op == 'contains' else '', like_suffix='%')}", {}
        if op == "in":
            if not isinstance(value, list) or not value:
                raise _ValueError("Enter a non-empty list of values.")
            if len(value) > MAX_IN_VALUES:
                raise _ValueError(f"Enter at most {MAX_IN_VALUES} values.")
            return f"{field} IN ({', '.join(_literal(field_type, each) for each in value)})", {}
        # is_empty: true (the default) matches empty fields, false matches filled ones.
        if value is None:
            value = True
        if not isinstance(value, bool):
            raise _ValueError("Enter true (empty) or false (not empty).")
        return f"{field} {'=' if value else '!='} null", {}
    except _ValueError as exc:
        return None, {"value": [str(exc)]}


def filter_errors(sync_object: str, filters: Any) -> dict[str, dict] | list[str] | None:
    """The errors of a data set's filters in the API's shape (``{"<index>": {"field": [...]}}``, like DRF's
    list fields), or None."""
    if not isinstance(filters, list):
        return ["Enter a list of filters."]
    if len(filters) > MAX_FILTERS:
        return [f"Enter at most {MAX_FILTERS} filters."]
    errors = {str(index): _compile_filter(sync_object, item)[1] for index, item in enumerate(filters)}
    return {index: item_errors for index, item_errors in errors.items() if item_errors} or None


@dataclass(frozen=True)
class _DataSetView:
    """The attributes the compiler reads; a DataSet model instance works just as well."""

    object: str
    scope: str = "my_contacts"
    filters: tuple = ()
    days_back: int = 30
    days_ahead: int = 365
    closed_days_back: int = 30
    record_limit: int | None = None


def compile_where(
    data_set: Any, salesforce_user_id: str, now: datetime | None = None, data_setting: Any = None
) -> str:
    """The SOQL WHERE clause (without ``WHERE``) selecting the data set's records for one user; an empty string
    when nothing restricts them (contacts, ``all_visible``, no filters).

    ``data_set`` is a DataSet (or anything with its attributes: object, scope, filters, days_back, days_ahead,
    closed_days_back). With the object's ``data_setting``, events that are private in Salesforce are left out
    unless it syncs private events. Raises DataSetError if a filter or the user id is not acceptable.
    """
    return " AND ".join(clause.condition for clause in where_clauses(data_set, salesforce_user_id, now, data_setting))


@dataclass(frozen=True)
class WhereClause:
    """One condition of a compiled data set, with what a record failing it is, in words (the record explorer says
    which clause keeps a record out)."""

    condition: str
    fails: str  # "It is owned by someone else (the data set syncs the user's own contacts)."


def where_clauses(
    data_set: Any, salesforce_user_id: str, now: datetime | None = None, data_setting: Any = None
) -> list[WhereClause]:
    """The conditions `compile_where` ANDs, each with the sentence that says why a record failing it is left out."""
    sync_object = data_set.object
    if sync_object not in SOBJECTS:
        raise DataSetError({"object": [f"Unknown object {sync_object!r}."]})
    if not isinstance(salesforce_user_id, str) or not _ID.match(salesforce_user_id):
        raise DataSetError({"salesforce_id": ["Not a Salesforce id."]})
    now = now or datetime.now(UTC)
    today = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC).date()
    owner = quote(salesforce_user_id)
    conditions: list[WhereClause] = []
    not_owner = "It is owned by another Salesforce user, and the data set takes only the user's own {what}."
    if sync_object == "contacts":
        scope = data_set.scope
        if scope == "my_contacts":
            conditions.append(WhereClause(f"OwnerId = {owner}", not_owner.format(what="contacts")))
        elif scope == "my_accounts_contacts":
            conditions.append(WhereClause(
                f"Account.OwnerId = {owner}",
                "Its account is owned by another Salesforce user (or it has none), and the data set takes only "
                "contacts on the user's accounts."))
        elif scope != "all_visible":
            raise DataSetError({"scope": [f"Unknown scope {scope!r}."]})
    elif sync_object == "events":
        start = datetime.combine(today - timedelta(days=_days(data_set.days_back, "days_back")), time(), tzinfo=UTC)
        end = datetime.combine(today + timedelta(days=_days(data_set.days_ahead, "days_ahead")), time(23, 59, 59),
                               tzinfo=UTC)
        conditions += [
            WhereClause(f"OwnerId = {owner}", not_owner.format(what="events")),
            WhereClause(f"EndDateTime >= {datetime_literal(start)}",
                        f"It ended before the data set's window, which starts {start.date().isoformat()} "
                        f"({data_set.days_back} days back)."),
            WhereClause(f"StartDateTime <= {datetime_literal(end)}",
                        f"It starts after the data set's window, which ends {end.date().isoformat()} "
                        f"({data_set.days_ahead} days ahead)."),
        ]
        if data_setting is not None and not getattr(data_setting, "sync_private_events", False):
            conditions.append(WhereClause(
                "IsPrivate = false", "It is private in Salesforce, and the data setting does not sync private events."))
    else:
        since = today - timedelta(days=_days(data_set.closed_days_back, "closed_days_back"))
        conditions += [
            WhereClause(f"OwnerId = {owner}", not_owner.format(what="tasks")),
            WhereClause(f"(IsClosed = false OR (IsClosed = true AND ActivityDate >= {since.isoformat()}))",
                        f"It is closed with a due date before {since.isoformat()} (or none), and the data set takes "
                        f"closed tasks of the last {data_set.closed_days_back} days only."),
        ]
    filters = list(data_set.filters or [])
    errors = filter_errors(sync_object, filters)
    if errors:
        raise DataSetError({"filters": errors})
    for number, item in enumerate(filters, start=1):
        shown = item.get("value")
        conditions.append(WhereClause(
            _compile_filter(sync_object, item)[0],
            f"It fails the data set's filter {number}: {item['field']} {item['op'].replace('_', ' ')} "
            f"{shown if shown not in (None, '') else ''}".rstrip() + "."))
    return conditions


def compile_query(
    data_set: Any,
    salesforce_user_id: str,
    fields: list[str],
    now: datetime | None = None,
    data_setting: Any = None,
) -> str:
    """A whole SOQL query: the given fields of the data set's records, oldest change first, within its limit."""
    sobject = SOBJECTS.get(data_set.object)
    allowed = ALLOWED_FIELDS.get(data_set.object, {})
    unknown = [name for name in fields if name not in allowed and name != "SystemModstamp"]
    if not fields or unknown:
        raise DataSetError({"fields": [f"Unknown or missing fields: {', '.join(unknown) or '(none)'}."]})
    where = compile_where(data_set, salesforce_user_id, now, data_setting)
    # Every part is allow-listed or compiled from escaped literals above.
    query = f"SELECT {', '.join(fields)} FROM {sobject}"  # noqa: S608
    if where:
        query += f" WHERE {where}"
    query += " ORDER BY SystemModstamp ASC"
    limit = getattr(data_set, "record_limit", None)
    if limit:
        query += f" LIMIT {int(limit)}"
    return query


def _days(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3650:
        raise DataSetError({name: ["Enter a whole number of days from 0 to 3650."]})
    return value


def data_set_view(sync_object: str, **values: Any) -> _DataSetView:
    """A data set without a database row, e.g. to preview an unsaved form."""
    return _DataSetView(object=sync_object, **values)
