"""The SOQL the connector writes: date-time literals, id lists in URL-sized chunks, and the conditions that find
records by their matching keys (DESIGN.md §5)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from simple_salesforce.format import quote_soql_value

from sync.engine.records import SyncObject
from sync.mappings import salesforce as mapping

T = TypeVar("T")

ID_CHUNK = 200  # ids per "Id IN (...)" query: keeps the GET URL well under Salesforce's 16 KB limit
LOOKUPS_PER_QUERY = 20  # matching-key conditions ORed into one lookup query (same URL bound)

_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


def is_record_id(value: str) -> bool:
    """Whether `value` has the shape of a Salesforce id (15 or 18 letters and digits), so it may go into SOQL."""
    return bool(_ID.match(value))


def soql_datetime(value: str | datetime) -> str:
    """A date-time (a SystemModstamp, a stored watermark) as a SOQL literal: UTC, milliseconds, ``Z``."""
    parsed = mapping.parse_datetime(value)
    assert parsed is not None
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def id_list(record_ids: Sequence[str]) -> str:
    """Ids as a SOQL list literal, for ``Id IN ...``."""
    return quote_soql_value(list(record_ids))


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def key_condition(object_type: SyncObject, fields: Mapping[str, Any]) -> str:
    """The SOQL condition selecting records with a canonical record's matching keys (DESIGN.md §5)."""

    def equals(name: str, value: Any) -> str:
        return f"{name} = {quote_soql_value(value if value not in ('', None) else None)}"

    if object_type is SyncObject.CONTACTS:
        options = []
        if fields.get("email"):
            options.append(equals("Email", str(fields["email"]).strip()))
        if fields.get("first_name") or fields.get("last_name"):
            options.append("(" + " AND ".join(equals(name, fields.get(key)) for name, key in (
                ("FirstName", "first_name"), ("LastName", "last_name"), ("Account.Name", "company"))) + ")")
        return f"({' OR '.join(options)})" if options else ""
    subject = fields.get("subject")
    if not subject:
        return ""
    if object_type is SyncObject.TASKS:
        due = mapping.format_date(fields.get("due_date"))
        return f"{equals('Subject', subject)} AND {'ActivityDate = ' + due if due else 'ActivityDate = null'}"
    if fields.get("is_all_day"):
        start_day = mapping.to_salesforce(SyncObject.EVENTS, fields).get("ActivityDate")
        if not start_day:
            return ""
        return f"{equals('Subject', subject)} AND IsAllDayEvent = true AND ActivityDate = {start_day}"
    start = mapping.parse_datetime(fields.get("start"))
    if start is None:
        return ""
    start = start.replace(microsecond=0)
    condition = (f"{equals('Subject', subject)} AND StartDateTime >= {soql_datetime(start)} "
                 f"AND StartDateTime < {soql_datetime(start + timedelta(seconds=1))}")
    end = mapping.parse_datetime(fields.get("end"))
    if end is not None:
        end = end.replace(microsecond=0)
        condition += (f" AND EndDateTime >= {soql_datetime(end)} "
                      f"AND EndDateTime < {soql_datetime(end + timedelta(seconds=1))}")
    return condition
