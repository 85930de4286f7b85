"""Create, update and delete with Salesforce's validation and derived fields.

A ``Dml`` works for one user. Each operation returns the new record (a dict keyed by field name) without
touching the store; ``commit()`` writes everything pending at once. Records created or changed earlier in the
same unit of work are visible to later operations (references inside one collection request).
"""

import datetime as dt
import math
import re

from sandbox.salesforce import ids, recurrence, schema
from sandbox.salesforce.errors import ApiError, RecordError
from sandbox.salesforce.values import (
    format_date,
    format_datetime,
    normalize_datetime,
    parse_date,
    parse_datetime,
    start_of_day,
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EVENT_MINUTES = 14 * 24 * 60


def json_parser_error(kind: str, value) -> ApiError:
    return ApiError(400, "JSON_PARSER_ERROR",
                    f"Cannot deserialize instance of {kind} from {_token(value)} value {value} or request may "
                    "be missing a required field at [line:1, column:1]")


def _token(value) -> str:
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, str):
        return "VALUE_STRING"
    if isinstance(value, int | float):
        return "VALUE_NUMBER_INT" if isinstance(value, int) else "VALUE_NUMBER_FLOAT"
    return "START_OBJECT" if isinstance(value, dict) else "START_ARRAY"


class Dml:
    def __init__(self, emulator, access):
        self.emulator = emulator
        self.store = emulator.store
        self.access = access
        self.pending: dict[str, tuple[str, dict]] = {}
        self.now = format_datetime(emulator.now())

    def lookup(self, record_id: str) -> dict | None:
        if record_id in self.pending:
            return self.pending[record_id][1]
        return self.store.get(record_id)

    def commit(self) -> None:
        if self.pending:
            self.store.save(list(self.pending.values()))
            self.pending.clear()

    # -- operations ------------------------------------------------------------------------------
    def create(self, obj: schema.SObject, body: dict) -> dict:
        if not obj.createable:
            raise RecordError("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be inserted: {obj.name}")
        if not self.access.can(obj.name, "create"):
            raise RecordError("INSUFFICIENT_ACCESS_OR_READONLY",
                              f"You don't have permission to create records of type {obj.name}.")
        values = self._check_fields(obj, body, creating=True)
        record = {name: f.default if f.default is not None else (False if f.type == "boolean" else None)
                  for name, f in obj.fields.items()}
        record.update(values)
        record["Id"] = self.emulator.new_id(obj.name)
        if obj.ownable and not record.get("OwnerId"):
            record["OwnerId"] = self.access.user_id
        record.update(CreatedDate=self.now, CreatedById=self.access.user_id, IsDeleted=False)
        self._finish(obj, record, values, None)
        self.pending[record["Id"]] = (obj.name, record)
        if obj.name == "Event" and record.get("IsRecurrence"):
            record["RecurrenceActivityId"] = record["Id"]
            self._expand_series(record)
        return record

    def _expand_series(self, series: dict) -> None:
        for occurrence in recurrence.build_occurrences(series, lambda: self.emulator.new_id("Event")):
            begin = occurrence.pop("_start")
            if series.get("IsAllDayEvent"):
                changes = {"ActivityDate": format_date(begin.date()), "DurationInMinutes": series["DurationInMinutes"]}
            else:
                changes = {"StartDateTime": format_datetime(begin), "DurationInMinutes": series["DurationInMinutes"]}
            self._event(occurrence, changes, None)
            occurrence.update(CreatedDate=self.now, CreatedById=self.access.user_id, LastModifiedDate=self.now,
                              LastModifiedById=self.access.user_id, SystemModstamp=self.now)
            self.pending[occurrence["Id"]] = ("Event", occurrence)

    def _update_series(self, series: dict, changes: dict) -> None:
        children = [child for child in self.store.of_type("Event") if child.get("RecurrenceActivityId") == series["Id"]
                    and child["Id"] != series["Id"] and not child.get("IsDeleted")]
        if any(name in changes for name in (*recurrence.PATTERN_FIELDS, "DurationInMinutes", "IsAllDayEvent")):
            for child in children:
                self._soft_delete("Event", child, [])
            self._expand_series(series)
            return
        shared = {name: series.get(name) for name in recurrence.SERIES_FIELDS
                  if name in changes or name == "AccountId"}
        for child in children:
            self.pending[child["Id"]] = ("Event", dict(child, **shared, LastModifiedDate=self.now,
                                                       LastModifiedById=self.access.user_id, SystemModstamp=self.now))

    def update(self, obj: schema.SObject, record_id: str, body: dict) -> dict:
        current = self._existing(obj, record_id, "edit")
        values = self._check_fields(obj, body, creating=False)
        record = dict(current)
        record.update(values)
        self._finish(obj, record, values, current)
        self.pending[record["Id"]] = (obj.name, record)
        if obj.name == "Event" and record.get("IsRecurrence"):
            self._update_series(record, values)
        return record

    def delete(self, record_id: str, obj: schema.SObject | None = None) -> dict:
        full_id = ids.normalize(record_id)
        if not full_id:
            raise RecordError("MALFORMED_ID", f"malformed id {record_id}", http_status=400)
        sobject = ids.type_of(full_id)
        if obj is None:
            obj = schema.sobject(sobject or "")
            if obj is None:
                raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", http_status=404)
        current = self._existing(obj, full_id, "delete")
        deleted = []
        self._soft_delete(obj.name, current, deleted)
        return current

    def _soft_delete(self, sobject: str, record: dict, out: list) -> None:
        record = dict(record, IsDeleted=True, SystemModstamp=self.now, _deletedDate=self.now,
                      LastModifiedDate=self.now, LastModifiedById=self.access.user_id)
        self.pending[record["Id"]] = (sobject, record)
        out.append(record)
        cascades = {"Account": [("Contact", "AccountId")],
                    "Event": [("EventRelation", "EventId"), ("Event", "RecurrenceActivityId")]}
        for child_type, key in cascades.get(sobject, []):
            for child in self.store.of_type(child_type):
                if child.get(key) == record["Id"] and not child.get("IsDeleted") and child["Id"] not in self.pending:
                    self._soft_delete(child_type, child, out)

    def _existing(self, obj: schema.SObject, record_id: str, action: str) -> dict:
        full_id = ids.normalize(record_id) if isinstance(record_id, str) else None
        if not full_id:
            raise RecordError("MALFORMED_ID", f"malformed id {record_id}", ["Id"], http_status=400)
        if ids.type_of(full_id) != obj.name:
            raise RecordError("MALFORMED_ID", f"{obj.name} ID: id value of incorrect type: {record_id}", ["Id"],
                              http_status=400)
        if not obj.createable:
            verb = "updated" if action == "edit" else "deleted"
            raise RecordError("INVALID_TYPE_FOR_OPERATION", f"entity type cannot be {verb}: {obj.name}")
        current = self.lookup(full_id)
        if current is None or (not current.get("IsDeleted") and not self.access.can_see(obj.name, current)):
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", http_status=404)
        if current.get("IsDeleted"):
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", http_status=404)
        allowed = self.access.can_delete(obj.name, current) if action == "delete" else \
            self.access.can_edit(obj.name, current)
        if not allowed:
            raise RecordError("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id",
                              http_status=403 if action == "delete" else 400)
        return current

    # -- validation ------------------------------------------------------------------------------
    def _check_fields(self, obj: schema.SObject, body: dict, creating: bool) -> dict:
        if not isinstance(body, dict):
            raise json_parser_error(f"SObject of type {obj.name}", body)
        values, locked = {}, []
        for key, value in body.items():
            if key == "attributes":
                continue
            f = obj.field(key)
            if f is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}")
            if f.name == "Id":
                if creating:
                    raise RecordError("INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call",
                                      ["Id"])
                continue
            if not (f.createable if creating else f.updateable):
                locked.append(f.name)
                continue
            values[f.name] = self._coerce(obj, f, value)
        if locked:
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(locked)}. Please check the security settings of this "
                "field and verify that it is read/write for your profile or permission set.", locked)
        return values

    def _coerce(self, obj: schema.SObject, f: schema.Field, value):
        if value is None or value == "":
            if not f.nillable and f.type == "boolean":
                raise json_parser_error("boolean", "null")
            return None
        kind = f.type
        if kind in schema.TEXT_TYPES:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise json_parser_error("string", value)
            value = str(value)
            if len(value) > f.length:
                raise RecordError("STRING_TOO_LONG",
                                  f"{f.label}: data value too large: {value[:80]} (max length={f.length})", [f.name])
            if kind == "email" and not _EMAIL.match(value):
                raise RecordError("INVALID_EMAIL_ADDRESS", f"{f.label}: invalid email address: {value}", [f.name])
            if f.restricted:
                parts = value.split(";") if kind == "multipicklist" else [value]
                for part in parts:
                    if part not in f.picklist:
                        raise RecordError("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                          f"{f.label}: bad value for restricted picklist field: {part}", [f.name])
            return value
        if kind == "boolean":
            if not isinstance(value, bool):
                if isinstance(value, str) and value.lower() in ("true", "false"):
                    return value.lower() == "true"
                raise json_parser_error("boolean", value)
            return value
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                    or value != int(value) or abs(value) >= 2**31:
                raise json_parser_error("int", value)
            return int(value)
        if kind in ("double", "currency"):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise json_parser_error("double", value)
            return float(value)
        if kind == "date":
            parsed = parse_date(value) or (parse_datetime(value) and parse_datetime(value).date())
            if not parsed:
                raise json_parser_error("date", value)
            return format_date(parsed)
        if kind == "datetime":
            normalized = normalize_datetime(value)
            if not normalized:
                raise json_parser_error("datetime", value)
            return normalized
        if kind == "reference":
            return self._reference(f, value)
        raise json_parser_error(kind, value)

    def _reference(self, f: schema.Field, value):
        if not isinstance(value, str):
            raise json_parser_error("id", value)
        full_id = ids.normalize(value)
        if not full_id:
            raise RecordError("MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", [f.name])
        target_type = ids.type_of(full_id)
        if target_type not in f.reference_to:
            raise RecordError("FIELD_INTEGRITY_EXCEPTION", f"{f.label}: id value of incorrect type: {value}",
                              [f.name])
        target = self.lookup(full_id)
        if target is None or target.get("IsDeleted"):
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", f"{f.label}: invalid cross reference id", [f.name])
        if target_type == "User" and not target.get("IsActive"):
            raise RecordError("INACTIVE_OWNER_OR_USER", "operation performed with inactive user", [f.name])
        if not self.access.can_see(target_type, target):
            raise RecordError("INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
                              "insufficient access rights on cross-reference id", [f.name])
        return full_id

    # -- derived fields and cross-field rules ------------------------------------------------------
    def _finish(self, obj: schema.SObject, record: dict, changes: dict, before: dict | None) -> None:
        missing = [f.name for f in obj.fields.values()
                   if (f.required or (not f.nillable and f.createable and f.type != "boolean"
                                      and f.name != "OwnerId"))
                   and record.get(f.name) in (None, "")]
        if obj.ownable and not record.get("OwnerId"):
            missing.append("OwnerId")
        if missing:
            raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                              missing)
        if obj.name in ("Contact", "Lead", "User"):
            record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
        if obj.name == "Event":
            self._event(record, changes, before)
        if obj.name in ("Event", "Task"):
            record["AccountId"] = self._account_of(record)
        if obj.name == "Task":
            closed = record.get("Status") in schema.CLOSED_TASK_STATUSES
            if closed and not record.get("IsClosed"):
                record["CompletedDateTime"] = self.now
            elif not closed:
                record["CompletedDateTime"] = None
            record["IsClosed"] = closed
            record["IsHighPriority"] = record.get("Priority") == "High"
        if obj.name == "EventRelation":
            event = self.lookup(record["EventId"])
            if event is not None and before is None and not self.access.can_edit("Event", event):
                raise RecordError("INSUFFICIENT_ACCESS_ON_CROSS_REFERENCE_ENTITY",
                                  "insufficient access rights on cross-reference id", ["EventId"])
            if event is not None and before is None:
                event = dict(event, IsGroupEvent=True)
                self.pending[event["Id"]] = ("Event", event)
        record.update(LastModifiedDate=self.now, LastModifiedById=self.access.user_id, SystemModstamp=self.now)

    def _account_of(self, record: dict):
        what = self.lookup(record.get("WhatId") or "")
        if what and ids.type_of(what["Id"]) == "Account":
            return what["Id"]
        who = self.lookup(record.get("WhoId") or "")
        if who and ids.type_of(who["Id"]) == "Contact":
            return who.get("AccountId")
        return None

    def _event(self, record: dict, changes: dict, before: dict | None) -> None:
        def fail(code, message, fields):
            raise RecordError(code, message, fields)

        all_day = bool(record.get("IsAllDayEvent"))
        start_text = changes.get("StartDateTime") or changes.get("ActivityDateTime")
        if not start_text and "ActivityDate" in changes and (all_day or before is None):
            start_text = format_datetime(start_of_day(parse_date(changes["ActivityDate"]))) \
                if changes["ActivityDate"] else None
        if not start_text and before is not None:
            start_text = before.get("StartDateTime")
        if not start_text:
            fail("REQUIRED_FIELD_MISSING", "Required fields are missing: [ActivityDateTime]"
                 if not all_day else "Required fields are missing: [ActivityDate]",
                 ["ActivityDateTime"] if not all_day else ["ActivityDate"])
        start = parse_datetime(start_text)
        if all_day:
            start = start_of_day(start.date())
        if changes.get("EndDateTime"):
            end = parse_datetime(changes["EndDateTime"])
            if all_day:
                end = start_of_day(end.date())
            minutes = int((end - start).total_seconds() // 60) + (1440 if all_day else 0)
            if "DurationInMinutes" in changes and changes["DurationInMinutes"] is not None \
                    and changes["DurationInMinutes"] != minutes:
                fail("FIELD_INTEGRITY_EXCEPTION", "Duration: value is inconsistent with the end date/time",
                     ["DurationInMinutes"])
        elif changes.get("DurationInMinutes") is not None or (before and before.get("DurationInMinutes") is not None):
            minutes = changes.get("DurationInMinutes")
            if minutes is None:
                minutes = before["DurationInMinutes"]
            if all_day:
                minutes = max(1440, (minutes + 1439) // 1440 * 1440)
        elif all_day:
            minutes = 1440
        else:
            fail("REQUIRED_FIELD_MISSING", "Required fields are missing: [DurationInMinutes]",
                 ["DurationInMinutes"])
        if minutes < 0 or (minutes == 0 and all_day):
            fail("FIELD_INTEGRITY_EXCEPTION", "End Date Time: The end date/time must be after the start date/time",
                 ["EndDateTime"])
        if minutes > MAX_EVENT_MINUTES:
            fail("FIELD_INTEGRITY_EXCEPTION", "Event duration cannot exceed 14 days", ["DurationInMinutes"])
        end = start + dt.timedelta(minutes=minutes - (1440 if all_day else 0))
        record.update(
            StartDateTime=format_datetime(start), EndDateTime=format_datetime(end),
            ActivityDateTime=None if all_day else format_datetime(start), ActivityDate=format_date(start.date()),
            DurationInMinutes=minutes, EndDate=format_date(end.date()),
        )
        if record.get("IsRecurrence"):
            needed = [name for name in ("RecurrenceStartDateTime", "RecurrenceEndDateOnly", "RecurrenceType")
                      if not record.get(name)]
            kind = record.get("RecurrenceType")
            if kind in ("RecursDaily", "RecursWeekly", "RecursMonthly", "RecursMonthlyNth") and \
                    not record.get("RecurrenceInterval"):
                needed.append("RecurrenceInterval")
            if kind in ("RecursWeekly", "RecursMonthlyNth", "RecursYearlyNth") and \
                    not record.get("RecurrenceDayOfWeekMask"):
                needed.append("RecurrenceDayOfWeekMask")
            if needed:
                fail("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(needed)}]", needed)
            mask = record.get("RecurrenceDayOfWeekMask")
            if mask is not None and not 0 < mask < 128:
                fail("FIELD_INTEGRITY_EXCEPTION", "Recurrence Day of Week Mask: value outside of valid range",
                     ["RecurrenceDayOfWeekMask"])
            if record["RecurrenceEndDateOnly"] < record["RecurrenceStartDateTime"][:10]:
                fail("FIELD_INTEGRITY_EXCEPTION", "Recurrence Ends: must be after Recurrence Begins",
                     ["RecurrenceEndDateOnly"])
        elif any(record.get(name) for name in ("RecurrenceType", "RecurrenceStartDateTime")) and \
                before is None:
            fail("FIELD_INTEGRITY_EXCEPTION",
                 "Recurrence fields can only be set when Create Recurring Series of Events is checked",
                 ["IsRecurrence"])
