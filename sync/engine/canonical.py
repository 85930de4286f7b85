"""Canonical records: the fields each object syncs, how values are normalised, and the content hash.

The field mappings layer (sync/mappings/) turns Salesforce and Exchange records into dicts keyed by the canonical
field names below. The engine normalises them again (idempotently) so that what must compare equal does:

- single-line text: surrounding whitespace stripped, runs of whitespace collapsed; "" and None are the same;
- multi-line text: CRLF/CR become LF, trailing spaces on each line and blank lines at both ends are dropped;
- e-mail: stripped and lower-cased;
- date-times: converted to UTC and truncated to whole seconds (Salesforce has milliseconds, EWS has not); a naive
  date-time is taken as UTC; ISO-8601 strings are accepted;
- all-day events: `start` and `end` become dates (the date as given, never shifted through UTC);
- booleans: None is False;
- an event's `recurrence` (a series): the canonical text of `sync.engine.recurrence.Recurrence` (a series is one
  record whose `start`/`end` are its first occurrence's; a single event has no recurrence).

- text longer than both ends can hold (`TEXT_LIMITS`): cut to the limit, counted in UTF-16 code units as
  Salesforce and Exchange count characters, never inside a surrogate pair, then normalised again. Every write is
  then one both ends accept, and a value one end cut compares equal to the longer original on the other end, so a
  cut never reads as a change (`Schema.overflows` tells which values were cut, for the run's notes).

The content hash is sha256 over a canonical JSON encoding of the fields a schema lists, in schema order, omitting
empty values: fields not in the schema (or removed with `Schema.without`, for fields one side does not map) never
change the hash, and adding an optional field to a schema leaves existing hashes unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sync.engine.records import SyncObject
from sync.engine.recurrence import normalise_recurrence

Normaliser = Callable[[Any], Any]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _multiline(value: Any) -> str | None:
    if value is None:
        return None
    lines = [line.rstrip() for line in str(value).replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    text = "\n".join(lines).strip("\n")
    return text if text.strip() else None


def _email(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    return text or None


def _datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).replace(microsecond=0)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise TypeError(f"not a date-time: {value!r}")


def _date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"not a date: {value!r}")


def _bool(value: Any) -> bool:
    return bool(value)


def _integer(value: Any) -> int | None:
    if value is None or value == "":
        return None
    return int(value)


TEXT: Normaliser = _text
MULTILINE: Normaliser = _multiline
EMAIL: Normaliser = _email
DATETIME: Normaliser = _datetime
DATE: Normaliser = _date
BOOL: Normaliser = _bool
INTEGER: Normaliser = _integer
RECURRENCE: Normaliser = normalise_recurrence


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def text_length(text: str) -> int:
    """A text's length as Salesforce and Exchange count it (UTF-16 code units: an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def cut_text(text: str, limit: int) -> str:
    """The longest prefix of `text` of at most `limit` UTF-16 code units (a surrogate pair is never split)."""
    if len(text) <= limit // 2 or text_length(text) <= limit:
        return text
    return text.encode("utf-16-le")[: limit * 2].decode("utf-16-le", errors="ignore")


@dataclass(frozen=True, slots=True)
class Schema:
    """The canonical fields of one object, each with its normaliser, and the text limits both ends share."""

    object_type: SyncObject
    fields: tuple[tuple[str, Normaliser], ...]
    limits: Mapping[str, int] = field(default_factory=dict, hash=False)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.fields)

    def without(self, names: Iterable[str]) -> Schema:
        """This schema minus fields a side does not map (they are then neither compared nor written)."""
        drop = set(names)
        unknown = drop - set(self.names)
        if unknown:
            raise ValueError(f"unknown {self.object_type} fields: {sorted(unknown)}")
        return Schema(self.object_type, tuple(f for f in self.fields if f[0] not in drop),
                      {k: v for k, v in self.limits.items() if k not in drop})

    def canonicalize(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The normalised fields of a record: schema fields only, empty values (None) left out, texts cut to the
        limits both ends can hold."""
        out: dict[str, Any] = {}
        for name, normalise in self.fields:
            value = normalise(raw.get(name))
            limit = self.limits.get(name)
            if limit is not None and isinstance(value, str):
                value = normalise(cut_text(value, limit))
            if value is not None and value is not False:
                out[name] = value
        if self.object_type is SyncObject.EVENTS and out.get("is_all_day"):
            for name in ("start", "end"):
                if name in out:
                    out[name] = _all_day_date(raw.get(name))
        return out

    def overflows(self, raw: Mapping[str, Any]) -> list[tuple[str, int, int]]:
        """The texts of a record longer than both ends can hold: (field, its length, the limit), in schema order."""
        out = []
        for name, normalise in self.fields:
            limit = self.limits.get(name)
            if limit is None:
                continue
            value = normalise(raw.get(name))
            if isinstance(value, str) and text_length(value) > limit:
                out.append((name, text_length(value), limit))
        return out

    def content_hash(self, raw: Mapping[str, Any]) -> str:
        """Stable hash of the canonical content (what "changed" means in DESIGN.md §5)."""
        return hash_canonical(self.canonicalize(raw))


def _all_day_date(value: Any) -> date | None:
    # The date as given: converting a local midnight to UTC would move it to the previous day.
    return _date(value)


def hash_canonical(canonical: Mapping[str, Any]) -> str:
    """Hash of an already canonicalised dict (keys in schema order)."""
    encoded = json.dumps(
        [[name, _encode(value)] for name, value in canonical.items()],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


CONTACT_FIELDS: tuple[tuple[str, Normaliser], ...] = (
    ("first_name", TEXT),
    ("last_name", TEXT),
    ("email", EMAIL),
    ("company", TEXT),
    ("title", TEXT),
    ("department", TEXT),
    ("business_phone", TEXT),
    ("mobile_phone", TEXT),
    ("home_phone", TEXT),
    ("fax", TEXT),
    ("street", MULTILINE),
    ("city", TEXT),
    ("state", TEXT),
    ("postal_code", TEXT),
    ("country", TEXT),
    ("birthday", DATE),
    ("notes", MULTILINE),
)

EVENT_FIELDS: tuple[tuple[str, Normaliser], ...] = (
    ("subject", TEXT),
    ("location", TEXT),
    ("start", DATETIME),
    ("end", DATETIME),
    ("is_all_day", BOOL),
    ("is_private", BOOL),
    ("show_as", TEXT),
    ("description", MULTILINE),
    ("recurrence", RECURRENCE),  # last, and empty for single events: their hashes did not change with it
)

TASK_FIELDS: tuple[tuple[str, Normaliser], ...] = (
    ("subject", TEXT),
    ("due_date", DATE),
    ("status", TEXT),
    ("priority", TEXT),
    ("reminder_at", DATETIME),
    ("description", MULTILINE),
)

# The most characters a text field can hold on both ends: the narrower end's limit (every one of these is
# Salesforce's: the lengths of Contact, Event and Task fields in its object reference and describe). Exchange holds
# at least as much: it cuts a Subject to 255 characters and refuses names over 255, and keeps longer other texts.
# An e-mail address is never cut (a cut address is a wrong one: the end refuses it, and the record says why).
# `sync.mappings` declares each end's own limits; a test holds these to the narrower of the two.
TEXT_LIMITS: dict[SyncObject, dict[str, int]] = {
    SyncObject.CONTACTS: {"first_name": 40, "last_name": 80, "title": 128, "department": 80, "business_phone": 40,
                          "mobile_phone": 40, "home_phone": 40, "fax": 40, "street": 255, "city": 40, "state": 80,
                          "postal_code": 20, "country": 80, "notes": 32000},
    SyncObject.EVENTS: {"subject": 255, "location": 255, "description": 32000},
    SyncObject.TASKS: {"subject": 255, "description": 32000},
}

SCHEMAS: dict[SyncObject, Schema] = {
    SyncObject.CONTACTS: Schema(SyncObject.CONTACTS, CONTACT_FIELDS, TEXT_LIMITS[SyncObject.CONTACTS]),
    SyncObject.EVENTS: Schema(SyncObject.EVENTS, EVENT_FIELDS, TEXT_LIMITS[SyncObject.EVENTS]),
    SyncObject.TASKS: Schema(SyncObject.TASKS, TASK_FIELDS, TEXT_LIMITS[SyncObject.TASKS]),
}


def schema_for(object_type: SyncObject | str) -> Schema:
    """The full canonical schema of an object."""
    return SCHEMAS[SyncObject(object_type)]
