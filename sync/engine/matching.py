"""Matching unlinked records on first syncs and after resets, so nothing is duplicated (DESIGN.md §5).

Phases, in order, each over the records the previous phases left unmatched:

- contacts: e-mail; then first + last name + company (case-insensitive), never pairing two different e-mails;
- events: subject + start + end (+ the recurrence pattern: a series matches the same series, first occurrence
  and pattern alike, never a single event or one of its own occurrences);
- tasks: subject + due date (subject alone when there is no due date: a task without a due date only matches a
  task without one).

A key held by exactly one record on each side links the two. A key held by several records on either side
(and at least one on the other) is ambiguous: none of them is linked, matched later or created; each is
reported. Matching by the stamped Salesforce id comes before these keys and lives in reconcile, which needs the
link table. Keys are compared case-insensitively after canonical normalisation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync.engine.canonical import Schema
from sync.engine.records import Side, SideRecord, SyncObject

MatchKey = tuple[Any, ...]


def _fold(value: Any) -> str:
    return value.casefold() if isinstance(value, str) else ""


def match_keys(object_type: SyncObject, canonical: Mapping[str, Any]) -> tuple[MatchKey | None, ...]:
    """The record's key for each matching phase (None where the record has no key for that phase)."""
    if object_type is SyncObject.CONTACTS:
        email = canonical.get("email")
        first, last, company = (_fold(canonical.get(n)) for n in ("first_name", "last_name", "company"))
        name_key = ("name", first, last, company) if (first or last) else None
        return (("email", email) if email else None, name_key)
    if object_type is SyncObject.EVENTS:
        subject, start = _fold(canonical.get("subject")), canonical.get("start")
        if not subject or start is None:
            return (None,)
        return (("event", subject, start, canonical.get("end"), _pattern(canonical.get("recurrence"))),)
    subject = _fold(canonical.get("subject"))
    return (("task", subject, canonical.get("due_date")),) if subject else (None,)


def _pattern(recurrence: Any) -> str | None:
    """A series' pattern without its time zone (the two ends may name the same zone differently)."""
    if not recurrence:
        return None
    return ";".join(part for part in str(recurrence).split(";") if not part.startswith("tz="))


@dataclass(slots=True)
class MatchResult:
    """Pairs found (with the phase that found them) and records left out because their key was ambiguous."""

    pairs: list[tuple[SideRecord, SideRecord, str]] = field(default_factory=list)
    ambiguous: list[tuple[Side, SideRecord, str]] = field(default_factory=list)


_PHASE_NAMES = {
    SyncObject.CONTACTS: ("match_email", "match_name_company"),
    SyncObject.EVENTS: ("match_subject_start_end",),
    SyncObject.TASKS: ("match_subject_due_date",),
}


def match_records(
    schema: Schema, salesforce: Sequence[SideRecord], outlook: Sequence[SideRecord]
) -> MatchResult:
    """Pair unlinked Salesforce records with unlinked Outlook items by the per-object keys."""
    object_type = schema.object_type
    result = MatchResult()
    if not salesforce or not outlook:
        return result
    canon = {(Side.SALESFORCE, r.id): schema.canonicalize(r.fields) for r in salesforce}
    canon.update({(Side.OUTLOOK, r.id): schema.canonicalize(r.fields) for r in outlook})
    keys = {k: match_keys(object_type, c) for k, c in canon.items()}
    remaining = {Side.SALESFORCE: list(salesforce), Side.OUTLOOK: list(outlook)}
    for phase, phase_name in enumerate(_PHASE_NAMES[object_type]):
        by_key: dict[Side, dict[MatchKey, list[SideRecord]]] = {Side.SALESFORCE: defaultdict(list),
                                                                 Side.OUTLOOK: defaultdict(list)}
        for side, records in remaining.items():
            for record in records:
                key = keys[(side, record.id)][phase]
                if key is not None:
                    by_key[side][key].append(record)
        taken: set[tuple[Side, str]] = set()
        for key, sf_records in by_key[Side.SALESFORCE].items():
            ol_records = by_key[Side.OUTLOOK].get(key)
            if not ol_records:
                continue
            if len(sf_records) == 1 and len(ol_records) == 1:
                sf, ol = sf_records[0], ol_records[0]
                sf_email = canon[(Side.SALESFORCE, sf.id)].get("email")
                ol_email = canon[(Side.OUTLOOK, ol.id)].get("email")
                if sf_email and ol_email and sf_email != ol_email:
                    continue  # same name, different people
                result.pairs.append((sf, ol, phase_name))
            else:
                message = f"{len(sf_records)} Salesforce and {len(ol_records)} Outlook records share {phase_name}"
                result.ambiguous.extend((Side.SALESFORCE, r, message) for r in sf_records)
                result.ambiguous.extend((Side.OUTLOOK, r, message) for r in ol_records)
            taken.update((Side.SALESFORCE, r.id) for r in sf_records)
            taken.update((Side.OUTLOOK, r.id) for r in ol_records)
        for side in remaining:
            remaining[side] = [r for r in remaining[side] if (side, r.id) not in taken]
    return result
