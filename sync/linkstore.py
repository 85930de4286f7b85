"""The engine's link store and watermark store, kept in the database (RecordLink, UserObjectState)."""

from collections.abc import Collection, Iterator, Sequence
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from sync.engine import Link, LinkState, Side
from sync.engine.memory import LinkConflictError, MemoryLinkStore
from sync.models import RecordLink
from users.models import UserObjectState

# Ids per IN query when the engine names the records a run will look up (well under any database's parameter limit).
PREFETCH_BATCH = 500
# Past this many ids to read, one read of the whole table is cheaper than the batches (a run after a mass change).
READ_ALL_ABOVE = 2_000


def _to_link(row: RecordLink) -> Link:
    return Link(
        salesforce_id=row.salesforce_id,
        outlook_id=row.outlook_id,
        state=LinkState(row.state),
        salesforce_version=row.salesforce_version or None,
        outlook_version=row.outlook_version or None,
        content_hash=row.content_hash or None,
        gone=Side(row.gone) if row.gone else None,
        gone_out_of_scope=row.gone_out_of_scope,
        needs_retry=row.needs_retry,
        outlook_unseen=row.outlook_unseen,
        link_id=row.pk,
        field_hashes=row.field_hashes or None,
    )


def _to_row(link: Link, user_id: int, object_type: str) -> RecordLink:
    return RecordLink(
        pk=link.link_id,
        user_id=user_id,
        object=object_type,
        salesforce_id=link.salesforce_id,
        outlook_id=link.outlook_id,
        state=link.state.value,
        salesforce_version=link.salesforce_version or "",
        outlook_version=link.outlook_version or "",
        content_hash=link.content_hash or "",
        gone=link.gone.value if link.gone else "",
        gone_out_of_scope=link.gone_out_of_scope,
        needs_retry=link.needs_retry,
        outlook_unseen=link.outlook_unseen,
        field_hashes=link.field_hashes or "",
    )


class DjangoLinkStore:
    """One user's links for one object, read as a run needs them; each commit one transaction.

    An incremental run reads only the links it can touch, so an idle run costs the same with 20,000 links as with
    100: the links to revisit (pending creates, failed writes, items the last feed read has not seen), read on first
    asking; the links of the records either end reported, read in batches when the engine names them (`prefetch`);
    and every link only when the run goes through them all (a full change set: iteration reads the whole table
    once). An id asked for that was not prefetched is read alone, so an answer is never wrong for want of a hint;
    the size is a COUNT.

    A commit deletes the rows it replaces and inserts their new versions, so a link changing ids never trips the
    uniqueness constraints half-way; the database enforces them at the end of the transaction as RecordLink's
    constraints say.
    """

    def __init__(self, user_id: int, object_type: str):
        self.user_id, self.object_type = user_id, str(object_type)
        self._memory = MemoryLinkStore()  # the links read (or committed) so far, as the database holds them
        self._read_keys: set[int] = set()
        # Ids whose link (or its absence) is known: read, committed, or asked for and not found.
        self._known: dict[Side, set[str]] = {Side.SALESFORCE: set(), Side.OUTLOOK: set()}
        self._complete = False  # every link is in memory
        self._revisit_read = False
        self._count: int | None = None
        self.commits = 0
        self.reads = 0  # SELECTs of links (tests check a run reads only what it needs)

    def by_salesforce_id(self, salesforce_id: str) -> Link | None:
        self._ensure(Side.SALESFORCE, salesforce_id)
        return self._memory.by_salesforce_id(salesforce_id)

    def by_outlook_id(self, outlook_id: str) -> Link | None:
        self._ensure(Side.OUTLOOK, outlook_id)
        return self._memory.by_outlook_id(outlook_id)

    def __iter__(self) -> Iterator[Link]:
        self._read_all()
        return iter(self._memory)

    def __len__(self) -> int:
        if self._complete:
            return len(self._memory)
        if self._count is None:
            self._count = self._rows().count()
        return self._count

    @property
    def loaded(self) -> int:
        """How many links this store has read or committed so far (what a run cost in rows)."""
        return len(self._read_keys)

    def revisit(self) -> list[Link]:
        self._read_revisit()
        return self._memory.revisit()

    def marked_unseen(self) -> list[Link]:
        self._read_revisit()
        return self._memory.marked_unseen()

    def prefetch(self, salesforce_ids: Collection[str], outlook_ids: Collection[str]) -> None:
        if self._complete:
            return
        wanted = {side: [i for i in ids if i and i not in self._known[side]]
                  for side, ids in ((Side.SALESFORCE, salesforce_ids), (Side.OUTLOOK, outlook_ids))}
        if sum(map(len, wanted.values())) > READ_ALL_ABOVE:
            self._read_all()
            return
        for side, ids in wanted.items():
            for start in range(0, len(ids), PREFETCH_BATCH):
                self._read(side, ids[start:start + PREFETCH_BATCH])

    def clear(self) -> None:
        # Released links (copies the admin chose to keep) survive a reset, as in the engine's memory store.
        self._rows().exclude(state=LinkState.RELEASED.value).delete()
        self._memory.clear()
        self._count = None

    def commit(self, puts: Sequence[Link], removals: Sequence[Link]) -> list[Link]:
        replaced = {link.link_id for link in (*puts, *removals) if link.link_id is not None}
        rows = [_to_row(link, self.user_id, self.object_type) for link in puts]
        try:
            with transaction.atomic():
                if replaced:
                    RecordLink.objects.filter(pk__in=replaced, user_id=self.user_id).delete()
                created = RecordLink.objects.bulk_create(rows)
        except IntegrityError as exc:
            raise LinkConflictError(f"committing links for user {self.user_id} {self.object_type}: {exc}") from exc
        saved = [_to_link(row) for row in created]
        self._memory.commit(saved, list(removals))
        # What was committed is what the database now holds for these ids (a removed or renamed link's old ids
        # have no link any more).
        for link in (*saved, *puts, *removals):
            self._know(link)
        self._read_keys.update(link.link_id for link in saved)
        self._count = None
        self.commits += 1
        return saved

    # ---- reading ---------------------------------------------------------------------------------------------

    def _rows(self) -> QuerySet[RecordLink]:
        return RecordLink.objects.filter(user_id=self.user_id, object=self.object_type)

    def _know(self, link: Link) -> None:
        for side in (Side.SALESFORCE, Side.OUTLOOK):
            record_id = link.id_on(side)
            if record_id is not None:
                self._known[side].add(record_id)

    def _load(self, rows: QuerySet[RecordLink]) -> None:
        self.reads += 1
        links = [_to_link(row) for row in rows if row.pk not in self._read_keys]
        if links:
            self._memory.commit(links, [])
            self._read_keys.update(link.link_id for link in links)
            for link in links:
                self._know(link)

    def _ensure(self, side: Side, record_id: str) -> None:
        if not self._complete and record_id and record_id not in self._known[side]:
            self._read(side, [record_id])

    def _read(self, side: Side, record_ids: list[str]) -> None:
        column = "salesforce_id__in" if side is Side.SALESFORCE else "outlook_id__in"
        self._load(self._rows().filter(**{column: record_ids}))
        self._known[side].update(record_ids)

    def _read_revisit(self) -> None:
        # One query for both lists. The `link_revisit` partial index covers pending and failed links; until it
        # covers `outlook_unseen` too, the database walks the user's rows for it (in SQL: a few ms for 20,000).
        if not (self._complete or self._revisit_read):
            self._load(self._rows().filter(~Q(state=LinkState.LINKED.value) | Q(needs_retry=True)
                                           | Q(outlook_unseen=True)))
            self._revisit_read = True

    def _read_all(self) -> None:
        if not self._complete:
            self._load(self._rows())
            self._complete = True


def _iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, milliseconds only when there are any (Salesforce's precision)."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class DjangoWatermarks:
    """Watermarks in the UserObjectState row: Salesforce's high-water mark and Exchange's sync state."""

    def __init__(self, state: UserObjectState):
        self.state = state

    def get(self, side: Side) -> str | None:
        if side is Side.SALESFORCE:
            mark = self.state.salesforce_watermark
            return _iso_utc(mark) if mark else None
        return self.state.exchange_sync_state or None

    def set(self, side: Side, value: str | None) -> None:
        if side is Side.SALESFORCE:
            self.state.salesforce_watermark = datetime.fromisoformat(value) if value else None
            fields = ["salesforce_watermark"]
        else:
            self.state.exchange_sync_state = value or ""
            fields = ["exchange_sync_state"]
        UserObjectState.objects.filter(pk=self.state.pk).update(**{f: getattr(self.state, f) for f in fields})
