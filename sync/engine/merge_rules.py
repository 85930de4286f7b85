"""Reconcile's rules for field-level merging (a part of `reconcile._Reconciler`, see `sync.engine.merge` for the
semantics): keep each `both` link's field digest current, and plan the merge of a pair changed on both sides."""

from __future__ import annotations

from sync.engine.links import Link
from sync.engine.merge import digest_matches, field_digest, merge_records
from sync.engine.plan import Action, ActionKind, Conflict
from sync.engine.records import Direction, LinkState, Side, SideRecord

SF, OL = Side.SALESFORCE, Side.OUTLOOK
SIDE_LABEL = {SF: "Salesforce", OL: "Outlook"}


def _listed(names: tuple[str, ...]) -> str:
    return ", ".join(name.replace("_", " ") for name in names) or "nothing"


class MergeRules:
    """A mixin of `_Reconciler`: it relies on the reconciler's direction, setting, schema, plan, and its `_hash`,
    `_emit`, `_note_cuts`, `_put_link` and `_stamp_for`."""

    def _digest(self, side: Side, record: SideRecord) -> str:
        """The field digest of a record about to be the pair's synced content. Stored whatever the direction and
        the merge option say (a canonicalisation and a few short hashes per write), so that a pair is ready to
        merge the day merging is switched on or the direction becomes `both`."""
        return field_digest(self.schema, self.schema.canonicalize(record.fields), self._hash(side, record))

    def _wants_digest(self, link: Link) -> bool:
        """Whether merging is on and this link's digest is missing or stale: its next read should store one."""
        return (self.setting.merge_fields and self.direction is Direction.BOTH
                and not digest_matches(link.field_hashes, link.content_hash))

    def _with_read_digest(self, link: Link, records: list[tuple[Side, bool, SideRecord | None]]) -> Link:
        """The link with a digest taken from a record found unchanged (its content is the synced content): how a
        link that predates merging gets one without any write (`records`: (side, unchanged, record))."""
        if not self._wants_digest(link):
            return link
        for side, unchanged, record in records:
            if unchanged and record is not None and self._hash(side, record) == link.content_hash:
                return link.replace(field_hashes=self._digest(side, record))
        return link

    def _merge(self, cur: Link, stored: Link | None, s_rec: SideRecord, o_rec: SideRecord) -> bool:
        """Plan a field-level merge of a pair changed on both sides; False (nothing planned) when merging is off or
        the link's digest cannot say which fields changed (the whole-record rule then decides, once)."""
        if not (self.setting.merge_fields and self.direction is Direction.BOTH):
            return False
        winner = self.setting.winner()
        canonical = {SF: self.schema.canonicalize(s_rec.fields), OL: self.schema.canonicalize(o_rec.fields)}
        merged = merge_records(self.schema, cur.field_hashes, cur.content_hash, canonical[SF], canonical[OL], winner)
        if merged is None:
            return False
        merged_hash = self.schema.content_hash(merged.fields)
        records = {SF: s_rec, OL: o_rec}
        targets = [side for side in (SF, OL) if canonical[side] != merged.fields]
        after = cur.replace(state=LinkState.LINKED, content_hash=merged_hash, needs_retry=False,
                            field_hashes=field_digest(self.schema, merged.fields, merged_hash))
        for side in (SF, OL):
            after = after.with_version(side, None if side in targets else records[side].version)
        self._conflict_merged(cur, winner, merged.from_salesforce, merged.from_outlook, merged.contested)
        for target in targets:
            self._note_cuts(target, records[target.other])
            self._emit(Action(
                ActionKind.UPDATE, f"merged_{winner}_wins", side=target, record_id=cur.id_on(target),
                fields=merged.fields, link=after, previous=stored,
                salesforce_id_stamp=self._stamp_for(target, after.salesforce_id), source_id=records[target.other].id,
                merge_pair=len(targets) == 2, merge_written=merged.taken_from(target.other),
            ))
        if not targets:  # cannot happen (the two records differ), but never lose the new tokens
            self._put_link(after, stored, "merged_without_write")
        return True

    def _conflict_merged(
        self, link: Link, winner: Side, from_salesforce: tuple[str, ...], from_outlook: tuple[str, ...],
        contested: tuple[str, ...],
    ) -> None:
        outcome = (f"fields merged: {_listed(from_salesforce)} from Salesforce, {_listed(from_outlook)} from "
                   f"Outlook")
        if contested:
            outcome += f" ({_listed(contested)} changed on both sides: {SIDE_LABEL[winner]} wins)"
        self.plan.conflicts.append(Conflict(link.salesforce_id, link.outlook_id, "merged_fields", winner, outcome,
                                            from_salesforce, from_outlook, contested))
