"""Field-level merge: when both copies of a `both` pair changed, decide per field instead of for the whole record.

A data setting with `merge_fields` asks reconcile (`_both_present`) to merge a pair changed on both sides:

- a field changed on one side only is copied to the other;
- fields changed on different sides are both kept (each side receives the other's change);
- a field changed on both sides to different values takes the conflict winner's value (to equal values: nothing
  to decide);
- change vs delete is decided as without merging (DESIGN.md §5), as is a pair whose link holds no field digest.

"Changed" for a field is decided the way §5 decides it for a record: its canonical value's hash differs from the
one stored at the last sync. The link stores a *field digest* (`Link.field_hashes`): a compact JSON object of one
short hash per merge field, plus `"#"`, the first characters of the link's content hash it was computed with:

    {"#":"3f2a9c01b7de","first_name":"9a0b1c2d3e4f","email":"…","address":"…"}

Why hashes suffice: to merge, the engine needs to know, for each field, whether each side's current value differs
from the last synced one; a hash comparison answers exactly that. The values it writes always come from the
current records of the two sides (a field unchanged on one side still holds the last synced value there), so no
value has to be kept. About 13 bytes per field: under 400 bytes for a contact. Empty fields are left out (an
absent key is the empty value), like the content hash omits them.

The `"#"` tag makes a digest safe to carry along: a digest whose tag is not the link's current content hash (some
path changed the hash without it, or the link predates merging) is ignored, and the pair is decided for the whole
record once; the write that follows stores a fresh digest. Links that predate merging need no resync: reconcile
stores the digest with every write of a `both` pair, and, while merging is on, with the next read of a pair whose
record is presented unchanged (a full sync reads them all).

Merge fields and multi-valued data (documented in docs/syncing.md):

- each canonical field is one merge field, except groups whose parts only make sense together, which merge as
  one: a contact's postal address (street, city, state, postal code, country) and an event's time (start, end,
  all-day, recurrence);
- the e-mail address is one field (Salesforce's Contact has one); the phones are independent slots (business,
  mobile, home, fax each merge on their own);
- categories and attendees are not synced fields (categories choose which events sync, attendees relate events
  to people), so they are never merged or written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sync.engine.canonical import Schema, _encode
from sync.engine.records import Side, SyncObject

TAG = "#"
HASH_CHARS = 12  # 48 bits per field: a collision within one field of one link is not a practical concern

# Fields whose parts only make sense together: a group is one merge field, named by the key.
FIELD_GROUPS: dict[SyncObject, dict[str, tuple[str, ...]]] = {
    SyncObject.CONTACTS: {"address": ("street", "city", "state", "postal_code", "country")},
    SyncObject.EVENTS: {"time": ("start", "end", "is_all_day", "recurrence")},
    SyncObject.TASKS: {},
}


def merge_fields_of(schema: Schema) -> list[tuple[str, tuple[str, ...]]]:
    """The schema's merge fields in schema order: (merge field name, the canonical fields it covers)."""
    groups = FIELD_GROUPS[schema.object_type]
    grouped = {name: group for group, names in groups.items() for name in names}
    out: list[tuple[str, tuple[str, ...]]] = []
    seen: set[str] = set()
    for name in schema.names:
        group = grouped.get(name)
        if group is None:
            out.append((name, (name,)))
        elif group not in seen:
            seen.add(group)
            out.append((group, tuple(n for n in groups[group] if n in schema.names)))
    return out


def _value_hash(canonical: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    values = [[name, _encode(canonical[name])] for name in names if name in canonical]
    if not values:
        return None
    encoded = json.dumps(values, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:HASH_CHARS]


def field_digest(schema: Schema, canonical: Mapping[str, Any], content_hash: str) -> str:
    """The digest to store on a link whose content is `canonical` (already canonicalised) with this hash."""
    digest: dict[str, str] = {TAG: content_hash[:HASH_CHARS]}
    for merge_field, names in merge_fields_of(schema):
        value = _value_hash(canonical, names)
        if value is not None:
            digest[merge_field] = value
    return json.dumps(digest, separators=(",", ":"))


def digest_matches(field_hashes: str | None, content_hash: str | None) -> bool:
    """Whether a stored digest describes the link's current content (cheap: no parsing)."""
    if not field_hashes or not content_hash:
        return False
    return field_hashes.startswith(f'{{"{TAG}":"{content_hash[:HASH_CHARS]}"')


def learn_fields(stored: str | None, merged: str | None, names: Iterable[str]) -> str | None:
    """A link's digest (`stored`) with the merge fields `names` taken from the merge's digest (`merged`): what the
    link knows once one side holds the merged values of those fields and the other side was not written. The tag
    stays the stored one, so the digest still describes the link's content hash for every other field."""
    names = list(names)
    if not names or not stored or not merged:
        return stored
    known: dict[str, str] = json.loads(stored)
    taken: dict[str, str] = json.loads(merged)
    for name in names:
        if name in taken:
            known[name] = taken[name]
        else:  # the merged value is empty
            known.pop(name, None)
    return json.dumps(known, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Merged:
    """A merge's result: the merged canonical record and which merge fields came from where.

    `from_salesforce` / `from_outlook`: the fields whose value the other side receives (changed on that side only,
    or changed on both and won there); `contested`: the fields changed on both sides to different values."""

    fields: dict[str, Any]
    from_salesforce: tuple[str, ...]
    from_outlook: tuple[str, ...]
    contested: tuple[str, ...]

    def taken_from(self, side: Side) -> tuple[str, ...]:
        return self.from_salesforce if side is Side.SALESFORCE else self.from_outlook


def merge_records(
    schema: Schema,
    field_hashes: str | None,
    content_hash: str | None,
    salesforce: Mapping[str, Any],
    outlook: Mapping[str, Any],
    winner: Side,
) -> Merged | None:
    """Merge two canonical records changed since the last sync, or None when the link's digest cannot tell which
    fields changed (missing or stale): the caller then decides for the whole record."""
    if not digest_matches(field_hashes, content_hash):
        return None
    stored: dict[str, str] = json.loads(field_hashes or "{}")
    by_side = {Side.SALESFORCE: salesforce, Side.OUTLOOK: outlook}
    taken: dict[Side, list[str]] = {Side.SALESFORCE: [], Side.OUTLOOK: []}
    contested: list[str] = []
    chosen: dict[str, Side] = {}
    for merge_field, names in merge_fields_of(schema):
        before = stored.get(merge_field)
        s_hash, o_hash = _value_hash(salesforce, names), _value_hash(outlook, names)
        s_changed, o_changed = s_hash != before, o_hash != before
        if s_changed and o_changed and s_hash != o_hash:
            contested.append(merge_field)
            source = winner
            taken[source].append(merge_field)
        elif s_changed and not o_changed:
            source = Side.SALESFORCE
            taken[source].append(merge_field)
        elif o_changed and not s_changed:
            source = Side.OUTLOOK
            taken[source].append(merge_field)
        else:  # unchanged on both, or changed to the same value: either side's value is the same
            source = winner
        for name in names:
            chosen[name] = source
    merged = {name: by_side[chosen.get(name, winner)][name] for name in schema.names
              if name in by_side[chosen.get(name, winner)]}
    return Merged(merged, tuple(taken[Side.SALESFORCE]), tuple(taken[Side.OUTLOOK]), tuple(contested))
