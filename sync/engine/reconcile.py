"""Reconcile: from the two change sets and the link table, decide what to write where (DESIGN.md §5).

`reconcile()` is a pure function. For every link a change set touches (every link, when a change set is full)
it classifies each side as unchanged, changed (content hash differs from the link's), deleted, out of scope or
gone (tombstone), then applies the §5 table:

- unchanged on both: nothing is written (tokens are refreshed in the link);
- changed on one side: copied to the other if the direction sends from that side, else ignored;
- changed on both: equal content relinks without a write; otherwise the winner (the source of a one-way
  direction, the conflict behaviour's side for `both`) is written over the loser;
- deleted on one side, unchanged on the other: the copy is deleted if the deletion propagates, otherwise the
  link becomes a tombstone;
- deleted on one side, changed on the other: in `both` with propagating deletions the winner's state stands
  (re-created on the deleting side or deleted on the changing side); otherwise a propagating (source) deletion
  deletes, and a non-propagating one tombstones and the change re-creates the record where it was deleted;
- deleted (or gone) on both sides: the link is dropped;
- reshaped on one side (a series now presented as its occurrences, or occurrences as their series: the change
  set's `reshaped`): where the direction sends from that side, the copy is deleted whatever the deletion option
  says (the entry is not gone: its new shape's records are matched or created in the same run), and such
  deletions do not count towards the mass-delete guard; where it does not, the link becomes an out-of-scope
  tombstone (nothing is deleted, the other side's next change updates the copy in place).

Rules worth stating:

- "Changed" is decided by the content hash; a record whose version token equals the link's is unchanged without
  being hashed, so our own writes (whose tokens the link stores) are never echoed and a version bump with equal
  content writes nothing (only the stored token is refreshed).
- One-way directions never write the source side: the target's own changes are ignored (and left un-hashed in
  the link, so switching to `both` with a full sync still sees them); the conflict behaviour only matters for
  `both`, a one-way direction always lets its source win.
- A Salesforce record leaving the data set removes the Outlook copy wherever Salesforce is a source (the data
  set decides what is synced, whatever the deletion option and the conflict behaviour say). Any other scope exit
  (an Outlook item moved out of the sync folder, made private, losing its category; a Salesforce record leaving
  the data set under `outlook_to_salesforce`) deletes nothing: the link becomes a tombstone, a later change on
  the other side updates the out-of-scope copy in place (never re-creating it beside itself), and a record that
  comes back into scope relinks. Moving an item out of a folder is not an instruction to delete it elsewhere.
- Unlinked records are matched (stamped Salesforce id, then the keys of `matching`); a pair with equal content is
  linked without any write, a pair that differs is linked and the winner's content written. An Outlook item
  stamped with a Salesforce id that a full change set no longer holds is treated as a link whose Salesforce side
  was removed (except a series: its stamped copy is usually one replaced when the series changed shape, so it
  counts as new and is matched or created, never deleted; and except where that would delete an item `both` sends
  with deletions propagating: a card back in scope after its leaving deleted the Salesforce copy is created again,
  never deleted for its stale stamp). An unlinked item stamped with the Salesforce id of a link whose Outlook side
  is gone is that item back under a new id (moved or restored): it takes the link (`returning`). Remaining
  unlinked records are created on the other side where the direction sends them.
- A released link (the admin chose "keep them and unlink" when a change took records out of the data set:
  `DataSetting.release_scope_exits` turns the deletion of a Salesforce record's copy that left the scope into a
  release) is never written either way: its Outlook copy is neither updated, deleted, nor created in Salesforce
  (it is linked, so it is not new; not unlinked, so not an orphan), and a reset keeps it. It is dropped when the
  Outlook copy is deleted, and relinks (like a match, never a duplicate) when its record comes back into scope.
- Pending creates (`pending_create_*` links) are retried from the current source record, or dropped if the
  source is gone. (The apply loop has looked the target up first, see `apply.run_sync`.)
- The guards of §5 run last; a tripped guard sets `plan.refusal` and the plan must not be applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from sync.engine.canonical import Schema, schema_for
from sync.engine.guard import RESHAPED_REASON, SIDE_NAME, GuardRules
from sync.engine.links import Link, LinkTable, link_for_pair
from sync.engine.merge_rules import MergeRules
from sync.engine.plan import Action, ActionKind, Conflict, Guards, Plan, RecordIssue
from sync.engine.records import ChangeSet, DataSetting, Direction, LinkState, Side, SideRecord, SyncObject
from sync.engine.returning import returned_items
from sync.engine.unlinked import UnlinkedRules

SF, OL = Side.SALESFORCE, Side.OUTLOOK


class Status(Enum):
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    DELETED = "deleted"
    OUT_OF_SCOPE = "out_of_scope"
    GONE = "gone"
    RESHAPED = "reshaped"


REMOVED = frozenset({Status.DELETED, Status.OUT_OF_SCOPE, Status.GONE, Status.RESHAPED})
VALUE_TRUNCATED = "value_truncated"  # a per-record note (informational): a text was cut to what both ends hold


def reconcile(
    object_type: SyncObject | str,
    setting: DataSetting,
    salesforce: ChangeSet,
    outlook: ChangeSet,
    links: LinkTable,
    *,
    guards: Guards | None = None,
    schema: Schema | None = None,
) -> Plan:
    """Decide the plan for one user and object.

    `schema` defaults to the object's full canonical schema; pass `schema_for(obj).without(...)` to leave out
    fields one side does not map. Records a change set does not mention are taken as unchanged (incremental) or
    removed (full), so a pending or retried link's records must be in the change sets (`run_sync` sees to it).
    """
    object_type = SyncObject(object_type)
    return _Reconciler(object_type, setting, salesforce, outlook, links, guards or Guards(),
                       schema or schema_for(object_type)).run()


class _Reconciler(UnlinkedRules, GuardRules, MergeRules):
    def __init__(
        self,
        object_type: SyncObject,
        setting: DataSetting,
        salesforce: ChangeSet,
        outlook: ChangeSet,
        links: LinkTable,
        guards: Guards,
        schema: Schema,
    ) -> None:
        self.object_type = object_type
        self.setting = setting
        self.direction = setting.direction
        self.changes = {SF: salesforce, OL: outlook}
        self.links = links
        self.guards = guards
        self.schema = schema
        self.plan = Plan()
        self.link_actions: list[Action] = []
        self.write_actions: list[Action] = []
        self._hashes: dict[tuple[Side, str], str] = {}
        self.returned = returned_items(links, outlook) if self.direction is not Direction.NONE else {}

    # ---- helpers -------------------------------------------------------------------------------------------

    def _hash(self, side: Side, record: SideRecord) -> str:
        key = (side, record.id)
        value = self._hashes.get(key)
        if value is None:
            value = self._hashes[key] = self.schema.content_hash(record.fields)
        return value

    def _link_by(self, side: Side, record_id: str) -> Link | None:
        if side is SF:
            return self.links.by_salesforce_id(record_id)
        return self.links.by_outlook_id(record_id)

    def _emit(self, action: Action) -> None:
        (self.write_actions if action.is_write else self.link_actions).append(action)

    def _put_link(self, link: Link, previous: Link | None, reason: str) -> None:
        if link != previous:
            self._emit(Action(ActionKind.LINK, reason, link=link, previous=previous))

    def _drop_link(self, previous: Link | None, reason: str) -> None:
        if previous is not None:
            self._emit(Action(ActionKind.UNLINK, reason, previous=previous))

    def _stamp_for(self, target: Side, salesforce_id: str | None) -> str | None:
        return salesforce_id if target is OL else None

    def _note_cuts(self, target: Side, source: SideRecord) -> None:
        """Tell the run which of the source's texts are longer than both ends hold: the write carries them cut."""
        for name, length, limit in self.schema.overflows(source.fields):
            source_name, target_name = SIDE_NAME[target.other], SIDE_NAME[target]
            self.plan.issues.append(RecordIssue(target.other, source.id, VALUE_TRUNCATED, (
                f"The {name.replace('_', ' ')} has {length} characters, more than the {limit} that both "
                f"Salesforce and Outlook can hold, so its first {limit} characters were written to {target_name}. "
                f"Shorten it in {source_name} to choose where it is cut.")))

    def _update(self, target: Side, cur: Link, stored: Link | None, source: SideRecord, reason: str) -> None:
        """Write `source`'s content over the copy on `target`; the link then holds the new hash and tokens."""
        self._note_cuts(target, source)
        source_side = target.other
        after = cur.replace(state=LinkState.LINKED, content_hash=self._hash(source_side, source),
                            needs_retry=False, field_hashes=self._digest(source_side, source))
        after = after.with_version(source_side, source.version).with_version(target, None)
        self._emit(Action(
            ActionKind.UPDATE, reason, side=target, record_id=cur.id_on(target),
            fields=self.schema.canonicalize(source.fields), link=after, previous=stored,
            salesforce_id_stamp=self._stamp_for(target, after.salesforce_id), source_id=source.id,
        ))

    def _create(self, target: Side, source: SideRecord, stored: Link | None, reason: str) -> None:
        """Create a copy of `source` on `target`, behind a pending link committed before the remote create."""
        self._note_cuts(target, source)
        source_side = target.other
        pending = Link(
            salesforce_id=source.id if source_side is SF else None,
            outlook_id=source.id if source_side is OL else None,
            state=LinkState.pending_create(target),
            content_hash=self._hash(source_side, source),
            field_hashes=self._digest(source_side, source),
            # An Outlook source the feed has not seen yet stays to be checked (see `Link.outlook_unseen`).
            outlook_unseen=source_side is OL and stored is not None and stored.outlook_unseen,
            link_id=stored.link_id if stored else None,
        ).with_version(source_side, source.version)
        self._emit(Action(
            ActionKind.CREATE, reason, side=target, fields=self.schema.canonicalize(source.fields),
            link=pending, previous=stored,
            salesforce_id_stamp=source.id if target is OL else None, source_id=source.id,
            stamp_outlook_id=source.id if target is SF and self.direction.writes(OL) else None,
        ))

    def _delete(self, target: Side, cur: Link, stored: Link | None, reason: str) -> None:
        self._emit(Action(ActionKind.DELETE, reason, side=target, record_id=cur.id_on(target), link=cur,
                          previous=stored))

    def _conflict(self, link: Link, kind: str, winner: Side, outcome: str) -> None:
        self.plan.conflicts.append(Conflict(link.salesforce_id, link.outlook_id, kind, winner, outcome))

    # ---- classification ------------------------------------------------------------------------------------

    def _status(self, link: Link, side: Side) -> tuple[Status, SideRecord | None]:
        record_id = link.id_on(side)
        changes = self.changes[side]
        if record_id is None:
            return Status.GONE, None
        record = changes.records.get(record_id)
        if link.gone is side:
            return Status.GONE, record
        if record is not None:
            if not record.in_scope:
                return Status.OUT_OF_SCOPE, record
            if record.version is not None and record.version == link.version_on(side):
                return Status.UNCHANGED, record
            if self._hash(side, record) == link.content_hash:
                return Status.UNCHANGED, record
            return Status.CHANGED, record
        if record_id in changes.reshaped:
            return Status.RESHAPED, None
        if changes.full or record_id in changes.deleted:
            return Status.DELETED, None
        return Status.UNCHANGED, None

    def _refreshed(self, link: Link, records: Iterable[tuple[Side, Status, SideRecord | None]]) -> Link:
        """The link with the tokens of records found unchanged (so they are not hashed again)."""
        for side, status, record in records:
            if status is Status.UNCHANGED and record is not None and record.version != link.version_on(side):
                link = link.with_version(side, record.version)
        return link.replace(needs_retry=False) if link.needs_retry else link

    # ---- links ---------------------------------------------------------------------------------------------

    def _unchanged_fast(self, link: Link) -> bool:
        """True when both records are presented with the link's own version tokens, or not presented at all in an
        incremental run: the common case, decided without hashing or allocating."""
        if link.state is not LinkState.LINKED or link.gone is not None or link.needs_retry:
            return False
        sf_changes, ol_changes = self.changes[SF], self.changes[OL]
        record = sf_changes.records.get(link.salesforce_id)  # type: ignore[arg-type]
        if record is None:
            if (sf_changes.full or link.salesforce_id in sf_changes.deleted
                    or link.salesforce_id in sf_changes.reshaped):
                return False
        elif not record.in_scope or record.version is None or record.version != link.salesforce_version:
            return False
        record = ol_changes.records.get(link.outlook_id)  # type: ignore[arg-type]
        if record is None:
            return not (ol_changes.full or link.outlook_id in ol_changes.deleted
                        or link.outlook_id in ol_changes.reshaped)
        return record.in_scope and record.version is not None and record.version == link.outlook_version

    def _evaluate(self, stored: Link | None, cur: Link) -> None:
        if stored is cur and self._unchanged_fast(cur) and not self._wants_digest(cur):
            return
        if cur.is_released:
            self._evaluate_released(stored, cur)
            return
        if cur.is_pending:
            self._evaluate_pending(cur)
            return
        if cur.gone is not None:
            cur = self._gone_side_news(cur)
        s_status, s_rec = self._status(cur, SF)
        o_status, o_rec = self._status(cur, OL)
        if s_status in REMOVED and o_status in REMOVED:
            self._drop_link(stored, "removed_on_both_sides")
            return
        if s_status in REMOVED:
            self._one_side_removed(SF, s_status, o_status, o_rec, cur, stored)
        elif o_status in REMOVED:
            self._one_side_removed(OL, o_status, s_status, s_rec, cur, stored)
        else:
            self._both_present(s_status, s_rec, o_status, o_rec, cur, stored)

    def _gone_side_news(self, cur: Link) -> Link:
        """A tombstoned side that is back in scope relinks; one that was out of scope and is now deleted says so."""
        side = cur.gone
        assert side is not None
        record_id = cur.id_on(side)
        changes = self.changes[side]
        record = changes.records.get(record_id) if record_id else None
        if record is not None and record.in_scope:
            return cur.replace(gone=None, gone_out_of_scope=False).with_version(side, None)
        if cur.gone_out_of_scope and record is None and (changes.full or record_id in changes.deleted):
            return cur.replace(gone_out_of_scope=False)
        return cur

    def _evaluate_released(self, stored: Link | None, cur: Link) -> None:
        """A kept copy (released link): nothing is ever written for it. Its link is dropped once the Outlook copy is
        deleted; it relinks when the Salesforce record is back in scope (compared like a match: equal content links
        without a write, different content lets the winner's version stand). Without the Outlook copy in hand (an
        incremental run) the relinked pair is marked for retry, so the next run reads and compares both."""
        sf_changes, ol_changes = self.changes[SF], self.changes[OL]
        ol_id, sf_id = cur.outlook_id, cur.salesforce_id
        ol_rec = ol_changes.records.get(ol_id) if ol_id else None
        if ol_rec is None and (ol_id is None or ol_changes.full or ol_id in ol_changes.deleted):
            self._drop_link(stored, "kept_copy_deleted")
            return
        sf_rec = sf_changes.records.get(sf_id) if sf_id else None
        if sf_rec is None or not sf_rec.in_scope:
            if ol_rec is not None and ol_rec.version != cur.outlook_version:
                self._put_link(cur.with_version(OL, ol_rec.version), stored, "kept_copy_seen")
            return
        if ol_rec is None:
            relinked = cur.replace(state=LinkState.LINKED, content_hash=None, needs_retry=True)
            self._put_link(relinked.with_version(SF, None).with_version(OL, None), stored, "kept_copy_back_in_scope")
            return
        if not ol_rec.in_scope:
            relinked = cur.replace(state=LinkState.LINKED, content_hash=self._hash(SF, sf_rec), gone=OL,
                                   gone_out_of_scope=True).with_version(SF, sf_rec.version)
            self._put_link(relinked, stored, "kept_copy_back_in_scope")
            return
        s_hash, o_hash = self._hash(SF, sf_rec), self._hash(OL, ol_rec)
        link = link_for_pair(sf_rec.id, sf_rec.version, ol_rec.id, ol_rec.version, s_hash, previous=stored)
        if s_hash == o_hash:
            self._put_link(link, stored, "kept_copy_back_in_scope")
            return
        winner = self.setting.winner()
        self._conflict(link, "match_differs", winner, f"{winner} version written to {winner.other}")
        self._update(winner.other, link, stored, sf_rec if winner is SF else ol_rec,
                     f"kept_copy_back_in_scope_{winner}_wins")

    def _evaluate_pending(self, cur: Link) -> None:
        target = cur.state.pending_side
        assert target is not None
        source_side = target.other
        source_id = cur.id_on(source_side)
        changes = self.changes[source_side]
        record = changes.records.get(source_id) if source_id else None
        if record is not None and record.in_scope:
            if self.direction.flows_from(source_side):
                self._create(target, record, cur, "retry_create")
            else:
                # The direction no longer sends this way: the copy that was never made is simply gone (a
                # tombstone), so the source is neither taken for a new record nor for an orphaned copy.
                tombstone = cur.replace(state=LinkState.LINKED, gone=target, gone_out_of_scope=False,
                                        needs_retry=False)
                self._put_link(tombstone, cur, "direction_changed")
        elif record is not None or source_id is None or changes.full or source_id in changes.deleted:
            self._drop_link(cur, f"{source_side}_removed_before_create")

    def _one_side_removed(
        self, gone_side: Side, gone_status: Status, other_status: Status, other: SideRecord | None,
        cur: Link, stored: Link | None,
    ) -> None:
        other_side = gone_side.other
        if gone_status is Status.RESHAPED:
            if self.direction.flows_from(gone_side):
                if other_status is Status.CHANGED:
                    # The new shape is written from the reshaping side's current content; the other side's edit
                    # of the old shape cannot be carried over, so say so.
                    self._conflict(cur, "changed_vs_reshaped", gone_side, f"{other_side} copy replaced")
                self._delete(other_side, cur, stored, f"{gone_side}{RESHAPED_REASON}")
                return
            cur = cur.replace(gone=gone_side, gone_out_of_scope=True)
        elif gone_status is Status.OUT_OF_SCOPE:
            if gone_side is SF and self.direction.flows_from(SF):
                if self.setting.release_scope_exits:
                    # The admin chose to keep the copies of records the change takes out of scope: unlinked.
                    released = cur.replace(state=LinkState.RELEASED, gone=None, gone_out_of_scope=False,
                                           needs_retry=False, content_hash=None)
                    self._put_link(released, stored, "salesforce_left_scope_kept")
                    return
                self._delete(other_side, cur, stored, f"{gone_side}_left_scope")
                return
            cur = cur.replace(gone=gone_side, gone_out_of_scope=True)
        elif gone_status is Status.DELETED:
            propagates = self.setting.deletion_propagates(gone_side, self.object_type)
            if other_status is Status.CHANGED and propagates and self.direction is Direction.BOTH:
                winner = self.setting.winner()
                if winner is gone_side:
                    self._conflict(cur, "changed_vs_deleted", winner, f"deleted in {other_side}")
                    self._delete(other_side, cur, stored, f"conflict_{winner}_wins")
                else:
                    assert other is not None
                    self._conflict(cur, "changed_vs_deleted", winner, f"re-created in {gone_side}")
                    self._create(gone_side, other, stored, f"conflict_{winner}_wins")
                return
            if propagates:
                self._delete(other_side, cur, stored, f"{gone_side}_deleted")
                return
            cur = cur.replace(gone=gone_side, gone_out_of_scope=False)
        # The gone side is a tombstone: the surviving copy goes back only once it changes.
        if other_status is Status.CHANGED and self.direction.flows_from(other_side):
            assert other is not None
            if cur.gone_out_of_scope:
                self._update(gone_side, cur, stored, other, f"{other_side}_changed_target_out_of_scope")
            else:
                self._create(gone_side, other, stored, f"{other_side}_changed_after_{gone_side}_delete")
            return
        self._put_link(self._refreshed(cur, [(other_side, other_status, other)]), stored, "tombstone")

    def _both_present(
        self, s_status: Status, s_rec: SideRecord | None, o_status: Status, o_rec: SideRecord | None,
        cur: Link, stored: Link | None,
    ) -> None:
        flows_sf, flows_ol = self.direction.flows_from(SF), self.direction.flows_from(OL)
        if s_status is Status.CHANGED and o_status is Status.CHANGED:
            assert s_rec is not None and o_rec is not None
            s_hash, o_hash = self._hash(SF, s_rec), self._hash(OL, o_rec)
            if s_hash == o_hash:
                relinked = cur.replace(content_hash=s_hash, needs_retry=False, field_hashes=self._digest(SF, s_rec))
                relinked = relinked.with_version(SF, s_rec.version).with_version(OL, o_rec.version)
                self._put_link(relinked, stored, "same_change_on_both_sides")
                return
            if self._merge(cur, stored, s_rec, o_rec):
                return
            winner = self.setting.winner()
            loser = winner.other
            self._conflict(cur, "changed_both", winner, f"{winner} version written to {loser}")
            self._update(loser, cur, stored, s_rec if winner is SF else o_rec, f"conflict_{winner}_wins")
            return
        if s_status is Status.CHANGED and flows_sf:
            assert s_rec is not None
            self._update(OL, cur, stored, s_rec, "salesforce_changed")
            return
        if o_status is Status.CHANGED and flows_ol:
            assert o_rec is not None
            self._update(SF, cur, stored, o_rec, "outlook_changed")
            return
        # Nothing to write: unchanged, or a change on a side the direction does not send from.
        refreshed = self._refreshed(cur, [(SF, s_status, s_rec), (OL, o_status, o_rec)])
        refreshed = self._with_read_digest(refreshed, [(SF, s_status is Status.UNCHANGED, s_rec),
                                                       (OL, o_status is Status.UNCHANGED, o_rec)])
        self._put_link(refreshed, stored, "tokens_refreshed")

    # ---- unlinked records ----------------------------------------------------------------------------------

    def _pair(self, sf: SideRecord, ol: SideRecord, reason: str) -> None:
        s_hash, o_hash = self._hash(SF, sf), self._hash(OL, ol)
        link = link_for_pair(sf.id, sf.version, ol.id, ol.version, s_hash)
        if s_hash == o_hash:
            link = link.replace(field_hashes=self._digest(SF, sf))
            self._put_link(link, None, reason)
            return
        winner = self.setting.winner()
        source = sf if winner is SF else ol
        self._conflict(link, "match_differs", winner, f"{winner} version written to {winner.other}")
        self._update(winner.other, link, None, source, f"{reason}_{winner}_wins")

    # ---- run -----------------------------------------------------------------------------------------------

    def run(self) -> Plan:
        if self.direction is Direction.NONE:
            return self.plan
        todo: dict[tuple[str | None, str | None], Link] = {}
        # Cards back in scope under a new id (moved out and back in) take their link back (`returning`).
        back = {stored.salesforce_id: relinked for stored, relinked in self.returned.values()}
        if self.changes[SF].full or self.changes[OL].full:
            evaluate = self._evaluate
            for link in self.links:
                evaluate(link, back.get(link.salesforce_id, link) if back and link.salesforce_id else link)
        else:
            for side in (SF, OL):
                changes = self.changes[side]
                for ids in (changes.records, changes.deleted, changes.reshaped):
                    for record_id in ids:
                        link = self._link_by(side, record_id)
                        if link is not None:
                            todo[(link.salesforce_id, link.outlook_id)] = link
            for stored, _relinked in self.returned.values():
                todo[(stored.salesforce_id, stored.outlook_id)] = stored
            for link in todo.values():
                self._evaluate(link, back.get(link.salesforce_id, link) if back and link.salesforce_id else link)
        self._unlinked()
        self.plan.actions = self.link_actions + self.write_actions
        self.plan.refusal = self._guard()
        return self.plan
