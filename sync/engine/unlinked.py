"""Reconcile's rules for unlinked records (a part of `reconcile._Reconciler`, see its docstring): match them
(stamped Salesforce id, then the keys of `matching`), treat stale stamps as removed links or as new cards, skip copies
of synced contacts, and create what is left where the direction sends it."""

from __future__ import annotations

from sync.engine.links import link_for_pair
from sync.engine.matching import match_keys, match_records
from sync.engine.plan import RecordIssue
from sync.engine.records import Direction, LinkState, Side, SideRecord, SyncObject

SF, OL = Side.SALESFORCE, Side.OUTLOOK
COPY_OF_SYNCED = "copy_of_synced"  # a per-record note (informational): an Outlook contact copying a synced one


class UnlinkedRules:
    """A mixin of `_Reconciler`: it relies on the reconciler's changes, links, direction, setting, schema, plan,
    `returned`, and its `_pair`, `_evaluate`, `_create` and `_hash`."""

    def _unlinked(self) -> None:
        unlinked: dict[Side, list[SideRecord]] = {SF: [], OL: []}
        for side in (SF, OL):
            lookup = self.links.by_salesforce_id if side is SF else self.links.by_outlook_id
            unlinked[side] = [r for r in self.changes[side].records.values() if r.in_scope and lookup(r.id) is None
                              and (side is SF or r.id not in self.returned)]
        if not unlinked[SF] and not unlinked[OL]:
            return
        sf_unlinked = {r.id: r for r in unlinked[SF]}
        sf_changes = self.changes[SF]
        outlook_left: list[SideRecord] = []
        orphans: list[SideRecord] = []  # stamped with a Salesforce id that is gone or out of scope
        claimed: set[str] = set()
        for item in unlinked[OL]:
            stamp = item.salesforce_id
            if not stamp:
                outlook_left.append(item)
                continue
            stamped_link = self.links.by_salesforce_id(stamp)
            if stamped_link is not None:
                if stamped_link.state is LinkState.PENDING_CREATE_OUTLOOK:
                    continue  # our own create whose link is not resolved yet: never a new record
                outlook_left.append(item)  # a copy of a linked item: the stamp is not its identity
            elif stamp in sf_unlinked and stamp not in claimed:
                claimed.add(stamp)
                self._pair(sf_unlinked.pop(stamp), item, "match_stamp")
            elif stamp in claimed:
                outlook_left.append(item)
            elif item.fields.get("recurrence") and stamp not in sf_changes.records:
                # A series whose stamped Salesforce copy is gone: that copy is typically one we replaced when the
                # series changed shape (as occurrences and back), so it is taken as new, never as deleted.
                outlook_left.append(item)
            elif sf_changes.full or stamp in sf_changes.deleted or stamp in sf_changes.records:
                claimed.add(stamp)
                orphans.append(item)
                outlook_left.append(item)
            else:
                self.plan.issues.append(RecordIssue(
                    OL, item.id, "stamp_unresolved",
                    f"stamped with Salesforce id {stamp}, which this incremental run does not know; "
                    "the next full sync matches it", transient=True,
                ))
        result = match_records(self.schema, list(sf_unlinked.values()), outlook_left)
        for sf, ol, reason in result.pairs:
            self._pair(sf, ol, reason)
        left_out = {(side, r.id) for side, r, _ in result.ambiguous}
        for side, record, message in result.ambiguous:
            self.plan.issues.append(RecordIssue(side, record.id, "ambiguous_match",
                                                f"not linked or created: {message}"))
        paired = {(SF, sf.id) for sf, _, _ in result.pairs} | {(OL, ol.id) for _, ol, _ in result.pairs}
        left_out |= paired
        for item in orphans:
            # A stale stamp can be outlived by a key match (the record was re-created in Salesforce); otherwise it
            # is our copy of a Salesforce record that is gone or out of scope: as if it had been linked. Except where
            # that would delete a card Outlook sends: a deleted Salesforce record is no reason to delete a card the
            # user brought (back) into scope (moved back in after its leaving deleted the Salesforce copy, restored,
            # copied in); in both directions the card is new and created once in Salesforce.
            if (OL, item.id) not in left_out and not self._stale_stamp_is_new(item):
                left_out.add((OL, item.id))
                orphan = link_for_pair(item.salesforce_id, None, item.id, item.version, self._hash(OL, item))
                self._evaluate(None, orphan)
        if self.direction.flows_from(SF):
            for record in sf_unlinked.values():
                if (SF, record.id) not in left_out:
                    self._create(OL, record, None, "new_in_salesforce")
        if self.direction.flows_from(OL):
            copies = self._copies_of_synced(outlook_left) if self.object_type is SyncObject.CONTACTS else {}
            for record in outlook_left:
                if (OL, record.id) in left_out:
                    continue
                if record.id in copies:
                    self.plan.issues.append(RecordIssue(OL, record.id, COPY_OF_SYNCED, (
                        "This Outlook contact was not created in Salesforce: it is a copy of one already synced "
                        f"with Salesforce contact {copies[record.id]}. Delete the copy in Outlook, or edit the "
                        "synced one.")))
                    continue
                self._create(SF, record, None, "new_in_outlook")

    def _stale_stamp_is_new(self, item: SideRecord) -> bool:
        return (self.direction is Direction.BOTH and self.setting.deletion_propagates(SF, self.object_type)
                and item.salesforce_id not in self.changes[SF].records)

    def _copies_of_synced(self, items: list[SideRecord]) -> dict[str, str]:
        """Contacts: the unlinked Outlook items that copy a contact already synced (stamped with its Salesforce id, or
        with its matching keys), by item id → that Salesforce id. A person is one Salesforce contact however many
        cards a user copies into the folder (Lightning Sync's advice, "move, do not copy", made unnecessary)."""
        synced: dict[object, str] = {}
        for record in self.changes[SF].records.values():
            link = self.links.by_salesforce_id(record.id)
            if record.in_scope and link is not None and link.state is LinkState.LINKED and link.gone is None:
                for key in match_keys(self.object_type, self.schema.canonicalize(record.fields)):
                    if key is not None:
                        synced.setdefault(key, record.id)
        out: dict[str, str] = {}
        for item in items:
            stamped = self.links.by_salesforce_id(item.salesforce_id) if item.salesforce_id else None
            if stamped is not None and stamped.state is LinkState.LINKED and stamped.gone is None:
                out[item.id] = stamped.salesforce_id or ""
                continue
            for key in match_keys(self.object_type, self.schema.canonicalize(item.fields)):
                if key is not None and key in synced:
                    out[item.id] = synced[key]
                    break
        return out
