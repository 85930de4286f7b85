"""The EWS change feed: streaming subscriptions on the synced folders of every mailbox EWS serves, read over a few
long-lived GetStreamingEvents connections; each change marks that user's object dirty (`sync.feeds.dirty`).

The listener runs `run_streams(stop)` in a thread. One thread (the caller's) owns the database: it keeps one
MailboxSubscription row per (user, synced object), subscribes and unsubscribes, and handles what the reader threads
(one per connection, no database) put on a queue. Every gap (the listener was down, a subscription Exchange no
longer knows, a stream that broke) marks the objects it covered dirty, so a normal incremental run catches up.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings as django_settings
from django.db import close_old_connections, connections
from django.utils import timezone

from configurations.models import DataSetting, Direction, SyncMode
from sync.connections import ews_settings
from sync.connectors.base import ConnectorError, EwsSettings
from sync.connectors.ews.streaming import (
    MAX_CONNECTION_MINUTES,
    MAX_SUBSCRIPTIONS_PER_CONNECTION,
    EwsStreaming,
    StreamEvent,
    StreamGroup,
    read_stream,
)
from sync.error_words import describe_error
from sync.feeds.dirty import NO_VERSION, mark_dirty, report_outlook_changes
from sync.models import Connection, MailboxSubscription
from sync.routing import exchange_connections, routed_to
from users.models import ExchangeRoute, SyncUser
from users.services import with_effective_configuration

log = logging.getLogger(__name__)

# Settings (each overridable by a Django setting of the same name).
EWS_STREAM_CONNECTION_MINUTES = 30  # how long one GetStreamingEvents connection stays open (Exchange allows 1-30)
EWS_STREAM_GROUP_SIZE = 200  # subscriptions read over one connection (Exchange allows up to 200)
EWS_STREAM_RECONCILE_SECONDS = 60  # how often who needs a subscription is looked at again
EWS_STREAM_RETRY_SECONDS = 300  # how long a failed subscription waits before it is tried again
EWS_STREAM_BACKOFF_MAX_SECONDS = 120  # the longest pause before reopening a stream after a passing failure

PROTOCOL = "ews"
OBJECTS = ("contacts", "events", "tasks")
ITEM_CHANGES = frozenset({"created", "modified", "deleted", "moved", "copied"})
ECHO_KINDS = frozenset({"created", "modified"})  # a deletion is never an echo: the item is gone whoever wrote last


def setting(name: str) -> int:
    """An EWS_STREAM_* setting: the Django setting of that name, else this module's default."""
    return int(getattr(django_settings, name, globals()[name]))


def run_streams(stop: threading.Event) -> None:
    """Hold the EWS streaming subscriptions and mark changed objects dirty until `stop` is set (blocks)."""
    EwsFeed().run(stop)


@dataclass(frozen=True)
class Wanted:
    """A (user, object) whose mailbox folder needs a subscription, and where that folder is."""

    user_id: int
    object: str
    email: str
    contacts_folder: str

    @property
    def target(self) -> tuple[str, str]:
        """What the subscription watches: the mailbox, and for contacts the folder's name."""
        return self.email, self.contacts_folder if self.object == "contacts" else ""


def wanted_subscriptions() -> dict[tuple[int, str], Wanted]:
    """Every (user, object) that needs a subscription: active users whose mailbox routes to EWS, for each object
    their effective configuration syncs near real time (a configuration "on a schedule" needs none)."""
    connections = exchange_connections()
    if Connection.Kind.EXCHANGE not in connections:
        return {}
    users = with_effective_configuration(
        SyncUser.objects.filter(active=True).filter(routed_to(ExchangeRoute.EWS, connections))
    ).filter(effective_configuration_id__isnull=False).values_list("pk", "email", "effective_configuration_id")
    users = list(users)
    data_settings = defaultdict(list)
    for configuration_id, name, folder in DataSetting.objects.filter(
        configuration_id__in={c for _, _, c in users}, configuration__sync_mode=SyncMode.NEAR_REAL_TIME,
        object__in=OBJECTS,
    ).exclude(direction=Direction.NONE).values_list("configuration_id", "object", "folder"):
        data_settings[configuration_id].append((name, folder or "Salesforce_Sync"))
    return {
        (user_id, name): Wanted(user_id, name, email, folder)
        for user_id, email, configuration_id in users if email
        for name, folder in data_settings[configuration_id]
    }


class EwsFeed:
    """The state of one `run_streams`: the connector, the subscription rows it holds, the open connections."""

    def __init__(self) -> None:
        self.streaming: EwsStreaming | None = None
        self.messages: queue.Queue = queue.Queue()
        self.rows: dict[int, MailboxSubscription] = {}  # active rows with a subscription id, by pk
        self.by_subscription: dict[str, int] = {}
        self.emails: dict[int, str] = {}  # user id -> mailbox
        self.targets: dict[int, tuple[str, str]] = {}  # row pk -> (mailbox, contacts folder) it was subscribed on
        self.groups: dict[int, StreamGroup] = {}
        self.groups_lock = threading.Lock()  # the groups' membership, shared with the readers (`next_ids`)
        self._next_group = 0
        self._first = True

    # ---- the loop --------------------------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        # A blocking wait for either a reader's message or `stop`: no polling while idle.
        threading.Thread(target=lambda: (stop.wait(), self.messages.put(("stop",))), daemon=True,
                         name="ews-feed-stop").start()
        next_reconcile = 0.0
        try:
            while not stop.is_set():
                if time.monotonic() >= next_reconcile:
                    self._safely(self.reconcile)
                    next_reconcile = time.monotonic() + setting("EWS_STREAM_RECONCILE_SECONDS")
                try:
                    message = self.messages.get(timeout=max(0.0, next_reconcile - time.monotonic()))
                except queue.Empty:
                    continue
                if message[0] == "stop":
                    break
                self._safely(self.handle, message)
        finally:
            self.close_all()
            connections.close_all()  # this thread's own; it ends with the feed

    def _safely(self, work, *args) -> None:  # type: ignore[no-untyped-def]
        # The listener must outlive any one failure (the database away a moment, a bug in one event's handling):
        # log it and carry on; the next reconcile or event tries again.
        try:
            close_old_connections()
            work(*args)
        except Exception:
            log.exception("the EWS feed failed to handle %s; it goes on", getattr(work, "__name__", work))

    def close_all(self) -> None:
        with self.groups_lock:
            groups = list(self.groups.values())
            self.groups.clear()
        for group in groups:
            group.close()
        deadline = time.monotonic() + 2.0
        for group in groups:
            if group.thread is not None:
                group.thread.join(timeout=max(0.0, deadline - time.monotonic()))

    # ---- who needs a subscription ----------------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Subscribe what is wanted and not held, drop what is held and no longer wanted, retry failed ones, and
        (re)open the connections. The first reconcile of a run marks every subscribed object dirty (a gap)."""
        wanted = wanted_subscriptions()
        self._connect(bool(wanted))
        first, self._first = self._first, False
        rows = {(r.user_id, r.object): r for r in MailboxSubscription.objects.filter(protocol=PROTOCOL)}
        for key, row in rows.items():
            if key not in wanted:
                self._drop(row)
        retry_before = timezone.now() - timedelta(seconds=setting("EWS_STREAM_RETRY_SECONDS"))
        gap: dict[str, list[int]] = defaultdict(list)
        held: set[int] = set()
        for key, want in wanted.items():
            self.emails[want.user_id] = want.email
            row = rows.get(key)
            if row is None:
                row = MailboxSubscription(user_id=want.user_id, object=want.object, protocol=PROTOCOL)
            fresh = row.pk is None or not row.subscription_id or row.state != MailboxSubscription.State.ACTIVE
            if not fresh and self.targets.setdefault(row.pk, want.target) != want.target:
                # The mailbox's address or the contacts folder's name changed: the old folder is not the synced one.
                self._end(row, self.targets[row.pk][0])
                fresh = True
            if fresh and row.pk is not None and row.state == MailboxSubscription.State.FAILED and not first \
                    and row.updated_at > retry_before:
                continue
            if fresh and not self._subscribe(row, want):
                continue
            if fresh or first:
                gap[want.object].append(want.user_id)
            self._hold(row)
            held.add(row.pk)
        for pk in set(self.rows) - held:
            self._forget(self.rows[pk])  # its row was deleted meanwhile (with its user)
        for name, user_ids in gap.items():
            mark_dirty(user_ids, [name])
        self._regroup()

    def _connect(self, needed: bool) -> None:
        """The connector for the current EWS connection settings (a changed connection closes every stream)."""
        current: EwsSettings | None = None
        if needed:
            try:
                current = ews_settings()
            except ConnectorError as e:
                log.warning("the EWS feed has no usable EWS connection: %s", e)
        if self.streaming is not None and (current is None or current != self.streaming.settings):
            self.close_all()
            self.rows.clear()
            self.by_subscription.clear()
            self.streaming = None
            self._first = True  # the streams were closed: a gap, as at the start
        if current is not None and self.streaming is None:
            self.streaming = EwsStreaming(current)

    def _subscribe(self, row: MailboxSubscription, want: Wanted) -> bool:
        """Subscribe the row's folder; record the outcome on the row (active, or failed with the reason)."""
        if self.streaming is None:
            return self._failed(row, "No Exchange (EWS) connection is usable, so changes in this mailbox are not "
                                     "followed; they are synced on the regular schedule. Check the EWS connection "
                                     "on the Connections page.")
        try:
            subscription_id = self.streaming.subscribe(want.email, want.object, want.contacts_folder)
        except ConnectorError as error:
            return self._failed(row, "Changes in this folder are not followed as they happen (no streaming "
                                     "subscription), so they are synced on the regular schedule for now. "
                                     f"{describe_error(error)}")
        self._forget(row)
        row.subscription_id = subscription_id
        row.state = MailboxSubscription.State.ACTIVE
        row.error_message = ""
        row.watermark = ""
        row.save()
        self.targets[row.pk] = want.target
        return True

    def _failed(self, row: MailboxSubscription, message: str) -> bool:
        self._forget(row)
        row.state = MailboxSubscription.State.FAILED
        row.subscription_id = ""
        row.error_message = message
        row.save()
        log.warning("EWS subscription of user %s %s failed: %s", row.user_id, row.object, message)
        return False

    def _hold(self, row: MailboxSubscription) -> None:
        self.rows[row.pk] = row
        self.by_subscription[row.subscription_id] = row.pk

    def _forget(self, row: MailboxSubscription) -> None:
        if row.pk in self.rows:
            old = self.rows.pop(row.pk)
            self.by_subscription.pop(old.subscription_id, None)

    def _drop(self, row: MailboxSubscription) -> None:
        """A subscription no longer needed: ended at Exchange (best effort) and its row deleted."""
        target = self.targets.pop(row.pk, None)
        email = target[0] if target else SyncUser.objects.filter(pk=row.user_id).values_list("email", flat=True).first()
        self._end(row, email)
        row.delete()

    def _end(self, row: MailboxSubscription, email: str | None) -> None:
        """Forget the row's subscription and end it at Exchange (best effort)."""
        self._forget(row)
        if row.subscription_id and email and self.streaming is not None:
            try:
                self.streaming.unsubscribe(email, row.subscription_id)
            except Exception:
                # It expires by itself once no connection reads it; nothing else depends on ending it now.
                log.info("could not unsubscribe %s of user %s", row.subscription_id, row.user_id, exc_info=True)

    # ---- connections -----------------------------------------------------------------------------------------------
    def _regroup(self) -> None:
        """Put every held subscription on a connection, never closing one that still reads a live subscription.

        Closing a stream may lose the events in flight on it, so membership only changes at a connection's natural
        end (each lasts EWS_STREAM_CONNECTION_MINUTES): a subscription no longer held leaves its group's list, used
        from the reader's next connection on (the server sends nothing for an ended one meanwhile); a group left
        empty is closed; new subscriptions fill new groups of at most EWS_STREAM_GROUP_SIZE, opened at once; a group
        at most half full is merged into one with room, both reading the moved subscriptions until the receiver's
        next connection includes them, so that the number of connections stays near the minimum."""
        if self.streaming is None:
            return
        size = max(1, min(setting("EWS_STREAM_GROUP_SIZE"), MAX_SUBSCRIPTIONS_PER_CONNECTION))
        held = set(self.by_subscription)
        with self.groups_lock:
            placed: set[str] = set()
            for group in list(self.groups.values()):
                keep = tuple(i for i in group.subscription_ids if i in held)
                group.handovers = {i: (receiver, connects) for i, (receiver, connects) in group.handovers.items()
                                   if i in keep and self.groups.get(receiver.key) is receiver}
                if not keep:
                    self.groups.pop(group.key, None)
                    group.close()
                    continue
                if keep != group.subscription_ids:
                    group.email = self._mailbox_of(keep[0])
                    group.subscription_ids = keep
                placed |= set(keep)
            self._merge_small_groups(size)
        waiting = [row.subscription_id for _, row in sorted(self.rows.items()) if row.subscription_id not in placed]
        for start in range(0, len(waiting), size):
            self._open(waiting[start:start + size])
        self.streaming.open_connections = len(self.groups)

    def _merge_small_groups(self, size: int) -> None:
        """Hand the subscriptions of groups at most half full to groups with room (see `_regroup`)."""
        def own(group: StreamGroup) -> list[str]:
            return [i for i in group.subscription_ids if i not in group.handovers]

        receiving = {receiver.key for g in self.groups.values() for receiver, _ in g.handovers.values()}
        for donor in sorted(self.groups.values(), key=lambda g: len(own(g))):
            moving = own(donor)
            if not moving or donor.handovers or donor.key in receiving or len(moving) * 2 > size:
                continue
            receiver = next((g for g in sorted(self.groups.values(), key=lambda g: -len(g.subscription_ids))
                             if g is not donor and not g.handovers and g.key not in receiving
                             and len(g.subscription_ids) + len(moving) <= size), None)
            if receiver is None:
                continue
            receiver.subscription_ids = receiver.subscription_ids + tuple(moving)
            donor.handovers = dict.fromkeys(moving, (receiver, receiver.connects))
            receiving.add(receiver.key)

    def next_ids(self, group: StreamGroup) -> tuple[str, ...]:
        """The subscriptions a group's next connection reads (its reader asks before each connection): those it
        handed over are left out once the receiver has opened a connection with them, or kept while it has not."""
        with self.groups_lock:
            taken = {i for i, (receiver, connects) in group.handovers.items()
                     if receiver.connects > connects and self.groups.get(receiver.key) is receiver}
            if taken:
                group.subscription_ids = tuple(i for i in group.subscription_ids if i not in taken)
                group.handovers = {i: h for i, h in group.handovers.items() if i not in taken}
            group.connects += 1
            return group.subscription_ids

    def _mailbox_of(self, subscription_id: str) -> str:
        return self.emails.get(self.rows[self.by_subscription[subscription_id]].user_id, "")

    def _open(self, subscription_ids: list[str]) -> None:
        self._next_group += 1
        group = StreamGroup(self._next_group, self._mailbox_of(subscription_ids[0]), tuple(subscription_ids))
        with self.groups_lock:
            self.groups[group.key] = group
        self.streaming.open_connections = len(self.groups)
        minutes = max(1, min(setting("EWS_STREAM_CONNECTION_MINUTES"), MAX_CONNECTION_MINUTES))
        group.thread = threading.Thread(
            target=read_stream, args=(group, self.streaming, self.messages, self.next_ids), daemon=True,
            kwargs={"minutes": minutes, "longest_pause": float(setting("EWS_STREAM_BACKOFF_MAX_SECONDS"))},
            name=f"ews-stream-{group.key}")
        group.thread.start()

    # ---- what the readers report -----------------------------------------------------------------------------------
    def handle(self, message: tuple) -> None:
        kind, group_key, *rest = message
        if kind == "events":
            self.on_events(rest[0])
            return
        group = self.groups.get(group_key)
        if group is None:  # a connection closed on purpose meanwhile: its report is stale
            return
        if kind == "gone":
            self.on_gone(group, rest[0], rest[1])
        elif kind == "broken":
            self.on_broken(group, rest[0])
        elif kind == "failed":
            self.on_failed(group, rest[0])

    def on_events(self, events: Iterable[StreamEvent]) -> None:
        """Mark dirty the objects whose items changed, except our own writes echoed back (the item's id and change
        key are the link's: the sync wrote that very version)."""
        now = timezone.now()
        touched: dict[int, str | None] = {}
        candidates: list[tuple[MailboxSubscription, StreamEvent]] = []
        for event in events:
            pk = self.by_subscription.get(event.subscription_id)
            if pk is None:
                continue
            touched[pk] = event.watermark or touched.get(pk)
            if event.about_item and event.kind in ITEM_CHANGES:
                candidates.append((self.rows[pk], event))
        # Per user object, the items changed and their versions (a deletion or a move: none, never an echo).
        reported: dict[tuple[int, str], dict[str, str]] = defaultdict(dict)
        for row, event in candidates:
            version = event.change_key if event.kind in ECHO_KINDS and event.change_key else NO_VERSION
            reported[(row.user_id, row.object)][event.item_id] = version
        for (user_id, name), items in reported.items():
            report_outlook_changes(user_id, name, items, now=now)
        for pk, watermark in touched.items():
            changes = {"last_event_at": now, "updated_at": now}
            if watermark:
                changes["watermark"] = watermark
            MailboxSubscription.objects.filter(pk=pk).update(**changes)

    def on_gone(self, group: StreamGroup, subscription_ids: tuple[str, ...], code: str) -> None:
        """Subscriptions Exchange no longer knows: subscribed again and their objects marked dirty (a gap)."""
        with self.groups_lock:
            self.groups.pop(group.key, None)
        gap: dict[str, list[int]] = defaultdict(list)
        for subscription_id in subscription_ids:
            pk = self.by_subscription.get(subscription_id)
            if pk is None:
                continue
            row = self.rows[pk]
            log.info("EWS subscription of user %s %s is gone (%s): subscribing again", row.user_id, row.object, code)
            gap[row.object].append(row.user_id)
            want = self._wanted_again(row)
            if want is None or not self._subscribe(row, want):
                self._forget(row)
                continue
            self._hold(row)
        for name, user_ids in gap.items():
            mark_dirty(user_ids, [name])
        self._regroup()

    def _wanted_again(self, row: MailboxSubscription) -> Wanted | None:
        email = self.emails.get(row.user_id)
        if not email:
            return None
        folder = "Salesforce_Sync"
        if row.object == "contacts":
            user = with_effective_configuration(SyncUser.objects.filter(pk=row.user_id)).values(
                "effective_configuration_id").first()
            setting_row = DataSetting.objects.filter(
                configuration_id=(user or {}).get("effective_configuration_id"), object="contacts").first()
            folder = (setting_row.folder if setting_row else "") or folder
        return Wanted(row.user_id, row.object, email, folder)

    def on_broken(self, group: StreamGroup, error: ConnectorError) -> None:
        """A stream broke (its reader reopens it after a pause): what it covered is marked dirty, since changes
        in flight may be lost."""
        gap: dict[str, list[int]] = defaultdict(list)
        for subscription_id in group.subscription_ids:
            pk = self.by_subscription.get(subscription_id)
            if pk is not None:
                gap[self.rows[pk].object].append(self.rows[pk].user_id)
        for name, user_ids in gap.items():
            mark_dirty(user_ids, [name])
        log.warning("an EWS stream of %s subscriptions broke (%s); reopening it", len(group.subscription_ids),
                    error.code)

    def on_failed(self, group: StreamGroup, error: ConnectorError) -> None:
        """A stream Exchange refuses for good (credentials, rights): its rows are failed with the reason and tried
        again after EWS_STREAM_RETRY_SECONDS; their objects sync on the regular schedule meanwhile."""
        with self.groups_lock:
            self.groups.pop(group.key, None)
        message = ("Exchange refused to stream this folder's changes, so they are synced on the regular schedule "
                   f"for now. {describe_error(error)}")
        for subscription_id in group.subscription_ids:
            pk = self.by_subscription.get(subscription_id)
            if pk is not None:
                self._failed(self.rows[pk], message)
        self._regroup()
