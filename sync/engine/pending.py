"""What a run looks up on the other side before it plans, so that it never creates a record twice.

Two kinds of lookups, each gathered first and sent as one `lookup_many` per side (a connector answers a batch in a
few calls: a run cut short after creating 1,000 records does not cost 1,000 lookups to recover):

- `resolve_pending`: the target of every pending create (a run that died between its remote create and its link
  commit) is looked up; a single hit resolves the link instead of creating again, several are reported and
  nothing is created.
- `fetch_match_candidates`: before an incremental run creates anything, each new unlinked record is looked up on
  the other side, so reconcile's matching can pair it with an unchanged copy the change set does not show.

The per-record decisions are made afterwards in request order, exactly as if each record had been looked up alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sync.engine.canonical import Schema
from sync.engine.links import Link, LinkStore
from sync.engine.matching import match_keys
from sync.engine.plan import RecordIssue
from sync.engine.records import ChangeSet, LinkState, Side, SideRecord, SyncObject

SF, OL = Side.SALESFORCE, Side.OUTLOOK


@dataclass(frozen=True, slots=True)
class LookupRequest:
    """Find records that may be the copy of a record: on Exchange, items stamped with `salesforce_id`; on both
    sides, records with any of the matching keys (`matching.match_keys`: per phase a tuple such as
    `("email", "ann@example.com")`, `("name", first, last, company)` case-folded,
    `("event", subject, start, end)`, `("task", subject, due_date)`; None for a phase without a key).
    Returning too many is fine (the engine filters exact keys); returning too few risks a duplicate."""

    object_type: SyncObject
    salesforce_id: str | None
    fields: Mapping[str, Any]
    keys: tuple[Any, ...]


class Lookups(Protocol):
    """The part of a `SideConnector` these lookups use."""

    def lookup_many(self, requests: Sequence[LookupRequest]) -> list[list[SideRecord]]: ...


def fetch_match_candidates(
    object_type: SyncObject, schema: Schema, changes: dict[Side, ChangeSet],
    connectors: Mapping[Side, Lookups], links: LinkStore,
) -> None:
    """Before an incremental run creates anything, look for the record it would duplicate.

    A new (unlinked) record may match an unlinked record on the other side that an incremental change set does
    not show because it did not change (a user's own copy, a record that was out of scope). Each such record is
    looked up on the other side by its matching keys (and, on Exchange, the stamped id); candidates join the
    other change set so reconcile's matching pairs them or reports the ambiguity. Salesforce is looked up first:
    the candidates it adds are looked up on Exchange in turn.
    """
    for target in (SF, OL):
        target_changes = changes[target]
        if target_changes.full:
            continue
        source_side = target.other
        requests: list[LookupRequest] = []
        for record in list(changes[source_side].records.values()):
            if not record.in_scope or linked(links, source_side, record.id):
                continue
            fields = schema.canonicalize(record.fields)
            keys = match_keys(object_type, fields)
            stamp = record.id if source_side is SF else None
            if stamp is None and not any(keys):
                continue
            requests.append(LookupRequest(object_type, stamp, fields, keys))
        if not requests:
            continue
        answers = connectors[target].lookup_many(requests)
        prefetch_candidates(links, target, answers)
        for found in answers:
            for candidate in found:
                # A linked Salesforce contact joins too: an Outlook card matching it is a copy of a synced contact,
                # never created again (reconcile's `_copies_of_synced`); its own link sees it unchanged.
                if (candidate.in_scope and candidate.id not in target_changes.records
                        and (not linked(links, target, candidate.id)
                             or (target is SF and object_type is SyncObject.CONTACTS))):
                    target_changes.records[candidate.id] = candidate


def prefetch_candidates(links: LinkStore, side: Side, answers: Sequence[Sequence[SideRecord]]) -> None:
    """Let the store read, in one go, the links of the records a lookup found (and, on Exchange, of the Salesforce
    ids stamped on them): each is checked for a link next."""
    records = [record for found in answers for record in found]
    if side is SF:
        links.prefetch({record.id for record in records}, ())
    else:
        links.prefetch({record.salesforce_id for record in records if record.salesforce_id},
                       {record.id for record in records})


def linked(links: LinkStore, side: Side, record_id: str) -> bool:
    link = links.by_salesforce_id(record_id) if side is SF else links.by_outlook_id(record_id)
    return link is not None


def resolve_pending(
    object_type: SyncObject, schema: Schema, changes: dict[Side, ChangeSet],
    connectors: Mapping[Side, Lookups], links: LinkStore, revisit: list[Link],
) -> tuple[set[int | None], list[RecordIssue]]:
    """Look up the target of each pending create; link what is found so it is never created twice.

    Returns the links held back (several candidates: nothing is created or linked) and their issues."""
    wanted: list[tuple[Link, Side, str | None, tuple[Any, ...]]] = []  # (link, target, source id, keys)
    requests: dict[Side, list[LookupRequest]] = {SF: [], OL: []}
    for link in revisit:
        target = link.state.pending_side
        if target is None:
            continue
        source_id = link.id_on(target.other)
        source = changes[target.other].records.get(source_id) if source_id else None
        if target is SF and source is None:
            continue  # no content to match on; the link is dropped by reconcile
        fields = schema.canonicalize(source.fields) if source else {}
        keys = match_keys(object_type, fields) if fields else ()
        wanted.append((link, target, source_id, keys))
        requests[target].append(LookupRequest(object_type, source_id if target is OL else None, fields, keys))
    found_per_side = {side: connectors[side].lookup_many(requests[side]) if requests[side] else []
                      for side in (SF, OL)}
    for side, found in found_per_side.items():
        prefetch_candidates(links, side, found)
    answers = {side: iter(found) for side, found in found_per_side.items()}

    resolved: list[Link] = []
    held: set[int | None] = set()
    issues: list[RecordIssue] = []
    taken: set[str] = set()
    for link, target, source_id, keys in wanted:
        candidates = []
        for record in next(answers[target]):
            if not record.in_scope or record.id in taken or linked(links, target, record.id):
                continue
            if target is SF and not _same_key(object_type, schema, record, keys):
                continue
            candidates.append(record)
        if len(candidates) == 1:
            found = candidates[0]
            taken.add(found.id)
            relinked = link.replace(state=LinkState.LINKED, needs_retry=False).with_side(target, found.id, None)
            if target is OL and found.salesforce_id != source_id:
                relinked = relinked.replace(content_hash=None)  # a user's item, not our copy: decide afresh
            resolved.append(relinked)
            changes[target].records[found.id] = found
            changes[target].deleted.discard(found.id)
        elif len(candidates) > 1:
            held.add(link.link_id)
            issues.append(RecordIssue(target.other, source_id, "ambiguous_pending_create",
                                      f"{len(candidates)} {target} records could be the copy created earlier; "
                                      "nothing was created or linked"))
    if resolved:
        links.commit(resolved, [])
    return held, issues


def _same_key(object_type: SyncObject, schema: Schema, record: SideRecord, keys: tuple[Any, ...]) -> bool:
    theirs = match_keys(object_type, schema.canonicalize(record.fields))
    return any(a is not None and a == b for a, b in zip(keys, theirs, strict=False))
