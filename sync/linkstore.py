"""The engine's link store and watermark store, kept in the database (RecordLink, UserObjectState)."""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from django.db import IntegrityError, transaction

from sync.engine import Link, LinkState, Side
from sync.engine.memory import LinkConflictError, MemoryLinkStore
from sync.models import RecordLink
from users.models import UserObjectState


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
    )


class DjangoLinkStore:
    """One user's links for one object: read once into memory, each commit one transaction.

    A commit deletes the rows it replaces and inserts their new versions, so a link changing ids never trips the
    uniqueness constraints half-way; the database enforces them at the end of the transaction as RecordLink's
    constraints say.
    """

    def __init__(self, user_id: int, object_type: str):
        self.user_id, self.object_type = user_id, str(object_type)
        self._memory = MemoryLinkStore()
        rows = RecordLink.objects.filter(user_id=user_id, object=self.object_type)
        links = [_to_link(row) for row in rows]
        if links:
            self._memory.commit(links, [])
        self.commits = 0

    def by_salesforce_id(self, salesforce_id: str) -> Link | None:
        return self._memory.by_salesforce_id(salesforce_id)

    def by_outlook_id(self, outlook_id: str) -> Link | None:
        return self._memory.by_outlook_id(outlook_id)

    def __iter__(self) -> Iterator[Link]:
        return iter(self._memory)

    def __len__(self) -> int:
        return len(self._memory)

    def revisit(self) -> list[Link]:
        return self._memory.revisit()

    def clear(self) -> None:
        # Released links (copies the admin chose to keep) survive a reset, as in the engine's memory store.
        RecordLink.objects.filter(user_id=self.user_id, object=self.object_type).exclude(
            state=LinkState.RELEASED.value).delete()
        self._memory.clear()

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
        self.commits += 1
        return saved


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
