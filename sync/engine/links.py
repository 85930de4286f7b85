"""Links: what the engine remembers about a synced pair, and the store interface that keeps them.

A `Link` mirrors one RecordLink row. Beyond the fields of DESIGN.md §4 it carries four more the Django model
must store too:

- `gone` (a side or None) and `gone_out_of_scope`: a *tombstone*. The copy on that side was deleted (or left the
  scope) and the deletion was deliberately not sent to the other side (one-way directions, or deletions that do
  not propagate). The surviving copy stays linked so it is neither re-created as "new" nor duplicated; it is
  re-created on the gone side only once it changes (DESIGN.md §5: "an Outlook-side delete is not recreated until
  the SF record changes"). A record that merely left the scope is written in place if it changes, never
  re-created beside itself. The gone side's id is kept so a record that comes back into scope relinks.
- `needs_retry`: a write for this pair failed; the next run fetches both records again even when the change sets
  are incremental, so the failed record is retried without holding back the watermark.
- `outlook_unseen`: the Outlook item was linked (created by the sync, or matched) after the last Exchange feed read
  whose watermark was stored. Exchange's feeds (EWS SyncFolderItems, Graph delta) report the deletion of an item
  only if it existed at the stored watermark, so the next incremental run fetches these items to learn whether the
  user deleted them in between, then clears the mark (its own feed read has seen them). `MarkingLinkStore` sets it.

`field_hashes` is the field digest `sync.engine.merge` reads to merge a pair changed on both sides field by field.

`link_id` is the store's key (the RecordLink primary key), None until the store first saves the link.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from sync.engine.records import LinkState, Side


@dataclass(frozen=True, slots=True)
class Link:
    """One linked pair (or pending create) for one user and object."""

    salesforce_id: str | None
    outlook_id: str | None
    state: LinkState = LinkState.LINKED
    salesforce_version: str | None = None
    outlook_version: str | None = None
    content_hash: str | None = None
    gone: Side | None = None
    gone_out_of_scope: bool = False
    needs_retry: bool = False
    outlook_unseen: bool = False
    link_id: int | None = None
    # The field digest of the synced content (`sync.engine.merge`): which fields a field-level merge sees changed.
    # Kept as its compact JSON text; ignored unless its tag matches `content_hash`.
    field_hashes: str | None = None

    def id_on(self, side: Side) -> str | None:
        return self.salesforce_id if side is Side.SALESFORCE else self.outlook_id

    def version_on(self, side: Side) -> str | None:
        return self.salesforce_version if side is Side.SALESFORCE else self.outlook_version

    def with_side(self, side: Side, record_id: str | None, version: str | None) -> Link:
        """A copy with `side`'s id and version token replaced."""
        if side is Side.SALESFORCE:
            return dataclasses.replace(self, salesforce_id=record_id, salesforce_version=version)
        return dataclasses.replace(self, outlook_id=record_id, outlook_version=version)

    def with_version(self, side: Side, version: str | None) -> Link:
        return self.with_side(side, self.id_on(side), version)

    def replace(self, **changes: object) -> Link:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def is_pending(self) -> bool:
        return self.state.pending_side is not None

    @property
    def is_released(self) -> bool:
        return self.state is LinkState.RELEASED


class LinkTable(Protocol):
    """Read access to one user's links for one object, as reconcile needs it."""

    def by_salesforce_id(self, salesforce_id: str) -> Link | None: ...

    def by_outlook_id(self, outlook_id: str) -> Link | None: ...

    def __iter__(self) -> Iterator[Link]: ...

    def __len__(self) -> int: ...


class LinkStore(LinkTable, Protocol):
    """A link table that can be changed, one transaction per call to `commit`.

    `commit` saves `puts` (inserting links whose `link_id` is None) and deletes `removals` atomically, enforcing
    the uniqueness of Salesforce and Outlook ids, and returns the saved `puts` with their `link_id`s.
    """

    def commit(self, puts: Sequence[Link], removals: Sequence[Link]) -> list[Link]: ...

    def revisit(self) -> list[Link]:
        """Links the next run must look at whatever the change sets say: pending creates and failed writes."""
        ...

    def marked_unseen(self) -> list[Link]:
        """Links whose Outlook item the last stored feed read has not seen (`Link.outlook_unseen`)."""
        ...

    def prefetch(self, salesforce_ids: Collection[str], outlook_ids: Collection[str]) -> None:
        """The links of these ids are about to be asked for. A store that reads its links as a run needs them (the
        database's) reads these now, in as few reads as it can; an in-memory store holds them all already. Only a
        hint: asking for an id that was not prefetched still answers right."""
        ...

    def clear(self) -> None:
        """Forget every link (a reset); records on either side are untouched."""
        ...


class WatermarkStore(Protocol):
    """Where each side's watermark (Salesforce high-water mark, Exchange sync state) is kept between runs."""

    def get(self, side: Side) -> str | None: ...

    def set(self, side: Side, value: str | None) -> None: ...


class MarkingLinkStore:
    """A link store, seen through a run: every link committed with an Outlook id it did not hold before is marked
    `outlook_unseen`, except the ids in `seen` (those the run's own feed read reported, when a crash would make the
    next run read everything again anyway).

    Marking at commit time, not at the end of the run, matters: a run that dies after committing links leaves the
    watermark where it was, and the next run's feed, read from there, never reports an item created and deleted
    since, although the dead run linked it.
    """

    def __init__(self, links: LinkStore, seen: Collection[str] = ()) -> None:
        self.links = links
        self.seen = seen

    def by_salesforce_id(self, salesforce_id: str) -> Link | None:
        return self.links.by_salesforce_id(salesforce_id)

    def by_outlook_id(self, outlook_id: str) -> Link | None:
        return self.links.by_outlook_id(outlook_id)

    def __iter__(self) -> Iterator[Link]:
        return iter(self.links)

    def __len__(self) -> int:
        return len(self.links)

    def revisit(self) -> list[Link]:
        return self.links.revisit()

    def marked_unseen(self) -> list[Link]:
        return self.links.marked_unseen()

    def prefetch(self, salesforce_ids: Collection[str], outlook_ids: Collection[str]) -> None:
        self.links.prefetch(salesforce_ids, outlook_ids)

    def clear(self) -> None:
        self.links.clear()

    def commit(self, puts: Sequence[Link], removals: Sequence[Link]) -> list[Link]:
        return self.links.commit([self._marked(link) for link in puts], removals)

    def _marked(self, link: Link) -> Link:
        if link.outlook_unseen or link.outlook_id is None or link.outlook_id in self.seen:
            return link
        known = self.links.by_outlook_id(link.outlook_id)
        if known is not None and known.link_id == link.link_id:
            return link
        return link.replace(outlook_unseen=True)


def link_for_pair(
    salesforce_id: str | None,
    salesforce_version: str | None,
    outlook_id: str | None,
    outlook_version: str | None,
    content_hash: str | None,
    previous: Link | None = None,
) -> Link:
    """A linked pair, keeping the store key of the link it replaces."""
    return Link(
        salesforce_id=salesforce_id,
        outlook_id=outlook_id,
        state=LinkState.LINKED,
        salesforce_version=salesforce_version,
        outlook_version=outlook_version,
        content_hash=content_hash,
        link_id=previous.link_id if previous else None,
    )
