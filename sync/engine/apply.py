"""The imperative shell around reconcile: fetch, resolve pending creates, plan, apply in batches, commit.

Connectors implement `SideConnector` (one per side, user and object); the Django RecordLink store implements
`links.LinkStore`; UserObjectState implements `links.WatermarkStore`. `memory.py` has in-memory versions of all
three. Guarantees of `run_sync`:

- A `pending_create_*` link is committed before each remote create. On the next run every pending link is looked
  up on its target side first (Exchange: the stamped Salesforce id; Salesforce: the matching keys), all of a side's
  in one `lookup_many` (`pending`); a single hit resolves the link instead of creating again, several hits are
  reported and nothing is created.
- Links are committed once per batch (one `LinkStore.commit` per batch of writes), after the batch's remote writes.
- Watermarks advance only after every batch is committed; a crash (any exception out of a connector or the store)
  leaves them where they were, so the next run sees the same changes again (and recognises its own writes).
- A record whose write fails is reported (`RecordIssue` with the connector's code and transient flag), its link
  keeps its old state with `needs_retry` set, and the next run fetches it again; the other records still apply.
- After a Salesforce create from an Outlook item, the item is stamped with the new Salesforce id (only where the
  direction writes Outlook); a failed stamp is reported and never undoes the link.
- A refused plan (guards) writes nothing and advances nothing.
- Exchange's feeds never report an item created and deleted between two reads, and a run reads its feed before
  making its own creates: every Outlook item linked after the last stored feed read (the run's creates; items
  matched by a run that then died before storing its watermark) is marked on its link (`Link.outlook_unseen`),
  the next incremental run fetches the marked items its feed does not mention in one call (a missing one is a
  deletion, decided by the usual rules) and clears the marks once its watermarks have advanced. A full run needs no
  check (it lists everything) but clears them too.
- An incremental run goes through only the links it needs: `revisit()` and `marked_unseen()`, and the links of the
  records the change sets (and the lookups) name, announced to the store with `prefetch` before they are looked up,
  so that a database's store reads them in batches; the mass-delete guard takes `len(links)` only when a plan
  deletes enough to ask. Only a full change set makes a run iterate over every link.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sync.engine.canonical import Schema, schema_for
from sync.engine.links import Link, LinkStore, MarkingLinkStore, WatermarkStore
from sync.engine.merge import learn_fields
from sync.engine.pending import LookupRequest, fetch_match_candidates, resolve_pending
from sync.engine.plan import Action, ActionKind, Guards, Plan, RecordIssue, Refusal
from sync.engine.reconcile import VALUE_TRUNCATED, reconcile
from sync.engine.records import ChangeSet, DataSetting, Direction, LinkState, Side, SideRecord, SyncObject
from sync.engine.unlinked import COPY_OF_SYNCED

SF, OL = Side.SALESFORCE, Side.OUTLOOK
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WriteError:
    """Why one record's write failed, classified once by the connector."""

    code: str
    message: str
    transient: bool


@dataclass(frozen=True, slots=True)
class WriteResult:
    """One record's outcome in a batched write: the record's id and new version token, or an error."""

    record_id: str | None = None
    version: str | None = None
    error: WriteError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """Create a record with these canonical fields; on Exchange, stamp it with `salesforce_id_stamp`."""

    fields: Mapping[str, Any]
    salesforce_id_stamp: str | None = None


@dataclass(frozen=True, slots=True)
class UpdateRequest:
    """Overwrite a record with these canonical fields (None: only stamp the Salesforce id on an Exchange item).

    `expected_version` is the record's version token as the engine knows it (read in this run, else the link's):
    a connector that can write conditionally refuses the write when the record changed since, with a
    `CHANGED_DURING_SYNC` error (transient), and the next run decides again. None: write unconditionally."""

    record_id: str
    fields: Mapping[str, Any] | None
    salesforce_id_stamp: str | None = None
    expected_version: str | None = None


class SideConnector(Protocol):
    """What the engine needs from one end for one user and object. Results come back in request order.

    `changes(None)` returns a full change set; `fetch` returns the records it finds, in scope or not (missing ids
    are deleted); `delete` of a record that no longer exists is a success.
    """

    side: Side

    def changes(self, watermark: str | None) -> ChangeSet: ...

    def fetch(self, record_ids: Collection[str]) -> dict[str, SideRecord]: ...

    def lookup(self, request: LookupRequest) -> list[SideRecord]: ...

    def lookup_many(self, requests: Sequence[LookupRequest]) -> list[list[SideRecord]]:
        """`lookup` of each request, in request order, in as few calls as the end allows."""
        ...

    def create(self, requests: Sequence[CreateRequest]) -> list[WriteResult]: ...

    def update(self, requests: Sequence[UpdateRequest]) -> list[WriteResult]: ...

    def delete(self, record_ids: Sequence[str]) -> list[WriteResult]: ...


@dataclass(slots=True)
class SyncOutcome:
    """What a run did: the plan, writes applied per (side, kind), per-record issues, refusal, watermarks."""

    plan: Plan
    applied: Counter[tuple[str, str]] = field(default_factory=Counter)
    issues: list[RecordIssue] = field(default_factory=list)
    refusal: Refusal | None = None
    watermarks_advanced: bool = False

    @property
    def failures(self) -> list[RecordIssue]:
        """The issues that are failures (retried at the next sync), not the product's policy."""
        return [issue for issue in self.issues if issue.code not in INFORMATIONAL_CODES]

    @property
    def ok(self) -> bool:
        """True when nothing was refused and no record failed."""
        return self.refusal is None and not self.failures

    def writes(self, side: Side | None = None) -> int:
        return sum(n for (s, kind), n in self.applied.items()
                   if s != "links" and kind != "stamp" and (side is None or s == side.value))


CHANGED_DURING_SYNC = "CHANGED_DURING_SYNC"  # a conditional write refused: the record changed since it was read

# Per-record outcomes that are the product's policy rather than a failure: recorded on the run, never an error
# state. An Outlook item stamped with a Salesforce id an incremental run does not know waits for the next full
# sync (`stamp_unresolved`); a meeting the mailbox organizes is not changed unless the admin allows Exchange to send
# its attendees an update (`meeting_not_updated`), and Graph cannot delete one without e-mailing them
# (`meeting_not_deleted`); a record a user edited while the sync wrote it is
# decided again by the next run (`CHANGED_DURING_SYNC`: the edit is kept, nobody has anything to do); a text longer
# than both ends hold was written cut (`VALUE_TRUNCATED`: the note says which and how to choose the cut).
INFORMATIONAL_CODES = frozenset({"stamp_unresolved", "meeting_not_updated", "meeting_not_deleted",
                                 CHANGED_DURING_SYNC, VALUE_TRUNCATED, COPY_OF_SYNCED})


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def reset_sync(links: LinkStore, watermarks: WatermarkStore) -> None:
    """Forget links and watermarks (never touching a record); the next `run_sync(full=True)` relinks by matching."""
    links.clear()
    for side in (SF, OL):
        watermarks.set(side, None)


@dataclass(slots=True)
class Planned:
    """What `plan_sync` read and decided: the plan, the change sets it was made from, and the run's bookkeeping."""

    plan: Plan
    changes: dict[Side, ChangeSet]
    links: LinkStore
    unseen: list[str]
    fed: set[str]


def plan_sync(
    object_type: SyncObject | str,
    setting: DataSetting,
    salesforce: SideConnector,
    outlook: SideConnector,
    links: LinkStore,
    watermarks: WatermarkStore,
    *,
    full: bool = False,
    guards: Guards | None = None,
    schema: Schema | None = None,
) -> Planned:
    """Read both change sets and reconcile them: the plan a run would apply, writing no record. Pending creates it
    resolves are committed to `links` (pass an in-memory copy to keep the real link table as it is: a dry run)."""
    object_type = SyncObject(object_type)
    schema = schema or schema_for(object_type)
    connectors = {SF: salesforce, OL: outlook}
    first_read = watermarks.get(OL) is None  # a run that dies leaves it so: the next run reads everything again
    changes = {side: connectors[side].changes(None if full else watermarks.get(side)) for side in (SF, OL)}
    fed = set(changes[OL].records)  # what this run's Exchange feed read itself reported
    links = MarkingLinkStore(links, fed if first_read and changes[OL].full else ())
    revisit = links.revisit()
    unseen = [link.outlook_id for link in links.marked_unseen() if link.outlook_id]
    _prefetch_links(links, changes)
    _complete_change_sets(changes, connectors, links, revisit, unseen)
    _prefetch_links(links, changes)
    _fetch_stamped(changes, salesforce, links)
    fetch_match_candidates(object_type, schema, changes, connectors, links)
    held, issues = resolve_pending(object_type, schema, changes, connectors, links, revisit)
    _prefetch_links(links, changes)
    plan = reconcile(object_type, setting, changes[SF], changes[OL], links, guards=guards, schema=schema)
    if held:
        plan.actions = [a for a in plan.actions
                        if not (a.kind is ActionKind.CREATE and a.previous and a.previous.link_id in held)]
    plan.issues[:0] = issues
    return Planned(plan, changes, links, unseen, fed)


def run_sync(
    object_type: SyncObject | str,
    setting: DataSetting,
    salesforce: SideConnector,
    outlook: SideConnector,
    links: LinkStore,
    watermarks: WatermarkStore,
    *,
    full: bool = False,
    guards: Guards | None = None,
    schema: Schema | None = None,
    batch_size: int = 200,
    on_plan: Callable[[Plan], None] | None = None,
) -> SyncOutcome:
    """One sync of one user's object: fetch both change sets, reconcile, apply, then advance the watermarks.

    `full=True` (first sync, reset, expired watermark, changed data setting) asks both sides for everything.
    `on_plan` is told the plan before anything is written (e.g. to show progress against its writes).
    """
    if setting.direction is Direction.NONE:
        return SyncOutcome(Plan())
    planned = plan_sync(object_type, setting, salesforce, outlook, links, watermarks, full=full, guards=guards,
                        schema=schema)
    plan, changes = planned.plan, planned.changes
    if plan.refusal is not None:
        return SyncOutcome(plan, issues=list(plan.issues), refusal=plan.refusal)
    if on_plan is not None:
        on_plan(plan)
    outcome = apply_plan(plan, {SF: salesforce, OL: outlook}, planned.links, batch_size=batch_size,
                         expected_version=_expected_versions(changes, setting.direction))
    for side in (SF, OL):
        watermarks.set(side, changes[side].watermark)
    outcome.watermarks_advanced = True
    _mark_seen(planned.links, [*planned.unseen, *planned.fed])
    return outcome


def _expected_versions(changes: Mapping[Side, ChangeSet], direction: Direction) -> Callable[[Action], str | None]:
    """The version an update's target must still have: the record as read in this run, else the link's token. Only
    where the target's own edits count (the direction sends from it, no tombstone): elsewhere the rule overwrites it
    anyway, and the link's token may be older than the record (an ignored change is left un-hashed)."""

    def expected(action: Action) -> str | None:
        side, record_id = action.side, action.record_id
        if side is None or record_id is None or not direction.flows_from(side):
            return None
        if action.link is not None and action.link.gone is side:
            return None
        record = changes[side].records.get(record_id)
        if record is not None:
            return record.version
        return action.previous.version_on(side) if action.previous is not None else None

    return expected


def _prefetch_links(links: LinkStore, changes: Mapping[Side, ChangeSet]) -> None:
    """Tell the store which links the run is about to look up: those of every record either change set names, and
    of the Salesforce ids stamped on its Outlook items (a database's store reads them in a few batches, not one by
    one; ids already read cost nothing). With a full change set the run goes through every link anyway."""
    sf_changes, ol_changes = changes[SF], changes[OL]
    if sf_changes.full or ol_changes.full:
        return
    salesforce_ids = {*sf_changes.records, *sf_changes.deleted, *sf_changes.reshaped}
    salesforce_ids.update(item.salesforce_id for item in ol_changes.records.values() if item.salesforce_id)
    links.prefetch(salesforce_ids, {*ol_changes.records, *ol_changes.deleted, *ol_changes.reshaped})


def _complete_change_sets(
    changes: dict[Side, ChangeSet], connectors: Mapping[Side, SideConnector], links: LinkStore,
    revisit: list[Link], unseen: list[str],
) -> None:
    """Add the records reconcile must see that the change sets may not hold.

    Pending and failed links are fetched on both sides. For a full change set, linked records missing from it are
    fetched too, so that a record that left the scope is not taken for a deleted one. For an incremental Outlook
    change set, the items the sync created after the previous feed read (`unseen`) are fetched too: the feed does
    not report one the user deleted before this run's read.
    """
    for side in (SF, OL):
        change_set = changes[side]
        wanted = {link.id_on(side) for link in revisit}
        if change_set.full:
            wanted.update(link.id_on(side) for link in links
                          if not (link.gone is side and not link.gone_out_of_scope))
        elif side is OL:
            wanted.update(unseen)
        # A reshaped record (a series now presented as occurrences, or the reverse) still exists but is no record.
        wanted = {i for i in wanted if i is not None and i not in change_set.records and i not in change_set.reshaped}
        if not wanted:
            continue
        found = connectors[side].fetch(wanted)
        for record_id in wanted:
            record = found.get(record_id)
            if record is None:
                change_set.deleted.add(record_id)
            else:
                change_set.records[record_id] = record
                change_set.deleted.discard(record_id)


def _mark_seen(links: LinkStore, outlook_ids: list[str]) -> None:
    """Clear the marks of the items this run's stored feed read has seen: those marked when the run started (their
    deletion, if any, was found by `_complete_change_sets`) and those the feed reported.

    Links are looked up again because the run may have changed or removed them; an item the run created or found
    outside its feed keeps its mark for the next run."""
    seen = {link.link_id: link.replace(outlook_unseen=False) for link in map(links.by_outlook_id, outlook_ids)
            if link is not None and link.outlook_unseen}
    if seen:
        links.commit(list(seen.values()), [])


def _fetch_stamped(changes: dict[Side, ChangeSet], salesforce: SideConnector, links: LinkStore) -> None:
    """Fetch the Salesforce records that unlinked, stamped Outlook items name, so an incremental run can pair
    them or see that the record is gone (a full Salesforce change set already tells)."""
    sf_changes = changes[SF]
    if sf_changes.full:
        return
    wanted = {
        item.salesforce_id for item in changes[OL].records.values()
        if item.salesforce_id and item.in_scope and links.by_outlook_id(item.id) is None
        and item.salesforce_id not in sf_changes.records and item.salesforce_id not in sf_changes.deleted
        and links.by_salesforce_id(item.salesforce_id) is None
    }
    if not wanted:
        return
    found = salesforce.fetch(wanted)
    for record_id in wanted:
        if record_id in found:
            sf_changes.records[record_id] = found[record_id]
        else:
            sf_changes.deleted.add(record_id)


def _write_batches(writes: Sequence[Action], size: int) -> Iterator[Sequence[Action]]:
    """`writes` in batches of about `size`, never splitting the two updates of a field-level merge (reconcile emits
    them one after the other): their link is committed once, with both new version tokens."""
    start = 0
    while start < len(writes):
        end = min(start + size, len(writes))
        if end < len(writes) and writes[end].merge_pair and writes[end - 1].merge_pair and _pair_key(
                writes[end]) == _pair_key(writes[end - 1]):
            end += 1
        yield writes[start:end]
        start = end


def _pair_key(action: Action) -> tuple[str | None, str | None]:
    link = action.link
    return (link.salesforce_id, link.outlook_id) if link is not None else (None, None)


def _settle_merges(batch: Sequence[Action], puts: dict[int, Link], ok: set[int]) -> None:
    """The link of each merged pair written on both sides: both new version tokens when both writes succeeded;
    otherwise the link as it was, to retry, except that its field digest learns the values the successful write
    took from the other side. The next run then sees the written side changed only in the fields it changed
    itself, and a user who edits one of the other fields again meanwhile keeps that edit."""
    pairs: dict[tuple[str | None, str | None], list[Action]] = {}
    for action in batch:
        if action.merge_pair and action.kind is ActionKind.UPDATE:
            pairs.setdefault(_pair_key(action), []).append(action)
    for actions in pairs.values():
        keys = [id(a) for a in actions]
        if all(key in ok for key in keys):
            link = actions[0].link
            assert link is not None
            for action in actions:
                assert action.side is not None
                link = link.with_version(action.side, puts[id(action)].version_on(action.side))
        else:
            previous = actions[0].previous
            link = (previous.replace(needs_retry=True) if previous is not None
                    else puts[keys[0]].replace(content_hash=None, needs_retry=True))
            if previous is not None:
                written = [name for a in actions if id(a) in ok for name in a.merge_written]
                link = link.replace(field_hashes=learn_fields(previous.field_hashes, actions[0].link.field_hashes,
                                                              written))
        for key in keys:
            puts.pop(key, None)
        puts[keys[0]] = link


def apply_plan(
    plan: Plan, connectors: Mapping[Side, SideConnector], links: LinkStore, *, batch_size: int = 200,
    expected_version: Callable[[Action], str | None] | None = None,
) -> SyncOutcome:
    """Apply a plan: link-only changes, then writes in batches, committing links once per batch. Each update (and
    stamp) is conditional on `expected_version(action)` (None: unconditional); `run_sync` passes what it read."""
    if plan.refusal is not None:
        raise ValueError(f"refused plan must not be applied: {plan.refusal.reason}")
    outcome = SyncOutcome(plan, issues=list(plan.issues))
    link_only = [a for a in plan.actions if not a.is_write]
    for batch in _chunks(link_only, max(batch_size, 1) * 5):
        links.commit([a.link for a in batch if a.kind is ActionKind.LINK and a.link is not None],
                     [a.previous for a in batch if a.kind is ActionKind.UNLINK and a.previous is not None])
        for action in batch:
            outcome.applied[("links", action.kind.value)] += 1
    writes = plan.writes
    for batch in _write_batches(writes, max(batch_size, 1)):
        _apply_batch(batch, connectors, links, outcome, expected_version or (lambda action: None))
    return outcome


def _apply_batch(
    batch: Sequence[Action], connectors: Mapping[Side, SideConnector], links: LinkStore, outcome: SyncOutcome,
    expected_version: Callable[[Action], str | None],
) -> None:
    creates = [a for a in batch if a.kind is ActionKind.CREATE]
    pending: dict[int, Link] = {}
    if creates:
        saved = links.commit([a.link for a in creates if a.link is not None], [])
        pending = {id(a): link for a, link in zip(creates, saved, strict=True)}
    puts: dict[int, Link] = {}  # keyed by action so a later stamp can replace the link
    removals: list[Link] = []
    stamps: list[tuple[int, Link, str, str | None]] = []  # (action key, link, Salesforce id, expected version)
    updated: set[int] = set()  # the updates that succeeded (a merged pair's link needs both)

    def failed(action: Action, side: Side, record_id: str | None, result: WriteResult) -> None:
        assert result.error is not None
        outcome.issues.append(RecordIssue(side, record_id, result.error.code,
                                          f"{action.kind} failed: {result.error.message}", result.error.transient))

    for side in (SF, OL):
        connector = connectors[side]
        deletes = [a for a in batch if a.kind is ActionKind.DELETE and a.side is side]
        if deletes:
            results = connector.delete([a.record_id for a in deletes if a.record_id is not None])
            for action, result in zip(deletes, results, strict=True):
                if result.ok:
                    outcome.applied[(side.value, "delete")] += 1
                    if action.previous is not None:
                        removals.append(action.previous)
                else:
                    failed(action, side, action.record_id, result)
                    kept = action.previous or action.link  # an orphan copy gets a link so it is retried
                    if kept is not None:
                        puts[id(action)] = kept.replace(needs_retry=True)
        updates = [a for a in batch if a.kind is ActionKind.UPDATE and a.side is side]
        if updates:
            results = connector.update([UpdateRequest(a.record_id or "", a.fields, a.salesforce_id_stamp,
                                                      expected_version(a)) for a in updates])
            for action, result in zip(updates, results, strict=True):
                assert action.link is not None
                if result.ok:
                    outcome.applied[(side.value, "update")] += 1
                    puts[id(action)] = action.link.with_version(side, result.version)
                    updated.add(id(action))
                else:
                    failed(action, side, action.record_id, result)
                    if action.previous is not None:
                        puts[id(action)] = action.previous.replace(needs_retry=True)
                    else:  # a matched pair: linked with no known content, so the next run decides again
                        puts[id(action)] = action.link.replace(content_hash=None, salesforce_version=None,
                                                               outlook_version=None, needs_retry=True)
        side_creates = [a for a in creates if a.side is side]
        if side_creates:
            results = connector.create([CreateRequest(a.fields or {}, a.salesforce_id_stamp) for a in side_creates])
            for action, result in zip(side_creates, results, strict=True):
                link = pending[id(action)]
                if result.ok:
                    outcome.applied[(side.value, "create")] += 1
                    # An Outlook create gets its `outlook_unseen` mark from the run's MarkingLinkStore.
                    final = link.replace(state=LinkState.LINKED, needs_retry=False)
                    final = final.with_side(side, result.record_id, result.version)
                    puts[id(action)] = final
                    if action.stamp_outlook_id and result.record_id:
                        # The item was read in this run (it is the create's source): a stamp must not take the
                        # version of an edit made since, or that edit would pass for the sync's own write.
                        stamp = Action(ActionKind.UPDATE, "stamp", side=OL, record_id=action.stamp_outlook_id,
                                       link=final, previous=final)
                        stamps.append((id(action), final, result.record_id, expected_version(stamp)))
                else:
                    failed(action, side, action.source_id, result)
                    puts[id(action)] = link.replace(needs_retry=True)
    _settle_merges(batch, puts, updated)
    if stamps:
        results = connectors[OL].update([UpdateRequest(link.outlook_id or "", None, sf_id, expected)
                                         for _, link, sf_id, expected in stamps])
        for (key, link, _, _), result in zip(stamps, results, strict=True):
            if result.ok:
                outcome.applied[(OL.value, "stamp")] += 1
                puts[key] = link.with_version(OL, result.version)
            else:
                outcome.issues.append(RecordIssue(OL, link.outlook_id, result.error.code if result.error else "",
                                                  "could not stamp the Salesforce id on the item", True))
    links.commit(list(puts.values()), removals)
