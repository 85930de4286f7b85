"""The Graph change feed: Graph mailboxes' changes mark their objects dirty.

With a public notification URL (GRAPH_NOTIFICATION_URL), each synced object of each Graph mailbox has a change
notification subscription (one `MailboxSubscription` row, protocol "graph"), created and renewed by beat
(`ensure_subscriptions`); the endpoint (sync.graph_notifications) hands the notifications to `handle_notifications`
and `handle_lifecycle`. Without one, the listener calls `sync.feeds.graph_delta.poll_deltas`: one cheap delta read
per object, the delta link kept in the row's `watermark`. Either way an item the sync itself just wrote (its id
and version are a link's) marks nothing, and every gap (a subscription created anew, a `missed` notification, a
delta round started again) marks the object dirty, so the next run catches up.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from configurations.models import Direction, OutlookConfiguration, SyncMode
from sync.connections import graph_settings
from sync.connectors.base import CallCounter, ConnectorError, GraphSettings
from sync.connectors.exchange import parse_instant
from sync.connectors.graph import GraphMailbox
from sync.connectors.graph.errors import NotFound
from sync.connectors.graph.subscriptions import GraphSubscriptions
from sync.error_words import describe_error
from sync.feeds.dirty import mark_dirty, report_outlook_changes
from sync.models import MailboxSubscription
from sync.options import object_options
from sync.routing import exchange_connections, mailbox_route, routed_to
from users.models import ExchangeRoute, SyncUser
from users.services import with_effective_configuration

log = logging.getLogger(__name__)

GRAPH = "graph"
RENEW_WITHIN = timedelta(days=1)  # beat runs every 15 minutes: a day leaves many chances before Graph's expiry
# Graph requests one beat run makes at most (creations and renewals, most urgent first), so that a run ends well
# within its 15 minutes however many mailboxes there are; the rest waits for the next run.
MAX_CHANGES_PER_RUN = 2000
LIFECYCLE_TASK = "sync.tasks.graph_subscription_lifecycle"
REAUTHORIZE, RECREATE = "reauthorize", "recreate"


# ---- what should be watched ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watched:
    """One Graph user's synced object, with where the sync reads it: the contacts folder's name, the events'
    window (the data set's, as the side reads it)."""

    user: SyncUser
    object: str
    contacts_folder: str
    window: tuple[datetime | None, datetime | None]

    @property
    def key(self) -> tuple[int, str]:
        return (self.user.pk, self.object)


def watched_objects(now: datetime, user_ids: Iterable[int] | None = None) -> dict[tuple[int, str], Watched]:
    """Every active user whose mailbox Graph serves and whose effective configuration (near real time) syncs an
    object, by (user id, object). A configuration on a schedule is polled at its interval: nothing to watch."""
    connections = exchange_connections()
    users = SyncUser.objects.filter(active=True).filter(routed_to(ExchangeRoute.GRAPH, connections))
    if user_ids is not None:
        users = users.filter(pk__in=list(user_ids))
    users = list(with_effective_configuration(users).filter(effective_configuration_id__isnull=False))
    configurations = {c.pk: c for c in OutlookConfiguration.objects.filter(
        pk__in={u.effective_configuration_id for u in users}, sync_mode=SyncMode.NEAR_REAL_TIME,
    ).prefetch_related("data_settings", "data_sets")}
    found: dict[tuple[int, str], Watched] = {}
    for user in users:
        configuration = configurations.get(user.effective_configuration_id)
        if configuration is None:
            continue
        data_sets = {d.object: d for d in configuration.data_sets.all()}
        for data_setting in configuration.data_settings.all():
            data_set = data_sets.get(data_setting.object)
            if data_setting.direction == Direction.NONE or data_set is None:
                continue
            options = object_options(data_setting, data_set, user, now, mailbox_route(user, connections))
            watched = Watched(user, data_setting.object, options.contacts_folder,
                              (parse_instant(options.window_start), parse_instant(options.window_end)))
            found[watched.key] = watched
    return found


def _mark(row: MailboxSubscription) -> dict[str, Any]:
    """The row's `watermark` read as JSON: mode (notify | delta), url, folder, resource, delta link, window."""
    try:
        data = json.loads(row.watermark or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _window_key(watched: Watched) -> list[str] | None:
    if watched.object != "events":
        return None
    return [t.isoformat() if t else "" for t in watched.window]


class _Mailboxes:
    """The Graph connection's settings read once, a mailbox connector per user; what each request costs is
    counted on `calls`."""

    def __init__(self) -> None:
        self.calls = CallCounter()
        self._settings: GraphSettings | ConnectorError | None = None

    def settings(self) -> GraphSettings:
        if self._settings is None:
            try:
                self._settings = graph_settings()
            except ConnectorError as e:
                self._settings = e
        if isinstance(self._settings, ConnectorError):
            raise self._settings
        return self._settings

    def subscriptions(self, watched: Watched | MailboxSubscription, folder: str = "Salesforce_Sync", *,
                      calls: CallCounter | None = None) -> GraphSubscriptions:
        """`calls`: a counter of the caller's own (CallCounter is not thread-safe)."""
        folder = watched.contacts_folder if isinstance(watched, Watched) else folder
        mailbox = GraphMailbox(self.settings(), watched.user.email, calls=calls if calls is not None else self.calls)
        return GraphSubscriptions(mailbox, contacts_folder=folder)


# ---- subscriptions (a public notification URL) ---------------------------------------------------------------


@dataclass
class SubscriptionSummary:
    created: int = 0
    renewed: int = 0
    deleted: int = 0
    failed: int = 0
    api_calls: int = 0


def ensure_subscriptions(now: datetime | None = None) -> SubscriptionSummary:
    """Beat: one active subscription per watched Graph object while GRAPH_NOTIFICATION_URL is set: create the
    missing ones (marking the object dirty: changes before it were never notified), renew those expiring within a
    day, delete those no longer needed. Without a URL, subscriptions left from before are deleted (the delta poll
    takes over). A failure is recorded on the row in a sentence and tried again at the next beat."""
    now = now or timezone.now()
    url = settings.GRAPH_NOTIFICATION_URL
    mailboxes = _Mailboxes()
    summary = SubscriptionSummary()
    rows = {(r.user_id, r.object): r for r in
            MailboxSubscription.objects.filter(protocol=GRAPH).select_related("user")}
    watched = watched_objects(now) if url else {}
    due = []  # (urgency, row, item): renewals by expiry; new subscriptions as if expiring within the hour
    for key, item in watched.items():
        row = rows.pop(key, None) or MailboxSubscription(user=item.user, object=item.object, protocol=GRAPH)
        if _needs_new(row, item, url, now):
            due.append((now + timedelta(hours=1), row, item))
        elif row.expires_at - now < RENEW_WITHIN:
            due.append((row.expires_at, row, item))
    due.sort(key=lambda entry: entry[0])
    if len(due) > MAX_CHANGES_PER_RUN:
        log.info("Graph subscriptions: %d due, %d left for the next beat", len(due), len(due) - MAX_CHANGES_PER_RUN)
    for _urgency, row, item in due[:MAX_CHANGES_PER_RUN]:
        try:
            if _needs_new(row, item, url, now):
                _subscribe(row, item, url, mailboxes, now)
                summary.created += 1
                continue
            try:
                expires = mailboxes.subscriptions(item).renew(row.subscription_id, now=now)
            except NotFound:  # Graph removed it meanwhile: a new one, and the gap marks the object dirty
                _subscribe(row, item, url, mailboxes, now)
                summary.created += 1
            else:
                MailboxSubscription.objects.filter(pk=row.pk, subscription_id=row.subscription_id).update(
                    expires_at=expires, state=MailboxSubscription.State.ACTIVE, error_message="")
                summary.renewed += 1
        except ConnectorError as e:
            summary.failed += 1
            _failed(row, e)
    for row in rows.values():  # no longer watched (or no URL any more: the delta poll keeps the rows)
        if not row.subscription_id:
            if url:
                row.delete()
            continue
        try:
            _unsubscribe(row, mailboxes, keep_row=not url)
            summary.deleted += 1
        except ConnectorError as e:
            summary.failed += 1
            _failed(row, e, state=MailboxSubscription.State.REMOVED)
    summary.api_calls = mailboxes.calls.calls
    if summary.created or summary.deleted or summary.failed:
        log.info("Graph subscriptions: %d created, %d renewed, %d deleted, %d failed", summary.created,
                 summary.renewed, summary.deleted, summary.failed)
    return summary


def _needs_new(row: MailboxSubscription, item: Watched, url: str, now: datetime) -> bool:
    mark = _mark(row)
    return (not row.subscription_id or row.state != MailboxSubscription.State.ACTIVE or row.expires_at is None
            or row.expires_at <= now or mark.get("mode") != "notify" or mark.get("url") != url
            or mark.get("folder") != item.contacts_folder)


def _subscribe(row: MailboxSubscription, item: Watched, url: str, mailboxes: _Mailboxes, now: datetime) -> None:
    """A new subscription for the row's object (the old one, if any, deleted first), then the object marked dirty."""
    feed = mailboxes.subscriptions(item)
    old = row.subscription_id
    if old:
        try:
            feed.delete(old)
        except ConnectorError as e:  # it expires by itself; its notifications no longer match the row
            log.info("could not delete Graph subscription %s: %s", old, e)
    made = feed.create(item.object, url, now=now)
    row.subscription_id, row.client_state, row.expires_at = made.id, made.client_state, made.expires_at
    row.state, row.error_message = MailboxSubscription.State.ACTIVE, ""
    row.watermark = json.dumps({"mode": "notify", "url": url, "folder": item.contacts_folder,
                                "resource": made.resource})
    if row.pk is None:
        row.save()
    elif not MailboxSubscription.objects.filter(pk=row.pk, subscription_id=old).update(
            subscription_id=made.id, client_state=made.client_state, expires_at=made.expires_at,
            state=row.state, error_message="", watermark=row.watermark):
        with contextlib.suppress(ConnectorError):  # if this fails, it expires by itself
            feed.delete(made.id)  # another worker replaced the row's subscription meanwhile: keep theirs
        return
    mark_dirty([item.user.pk], [item.object], now=now)


def _unsubscribe(row: MailboxSubscription, mailboxes: _Mailboxes, *, keep_row: bool) -> None:
    if row.subscription_id:
        folder = _mark(row).get("folder") or "Salesforce_Sync"
        mailboxes.subscriptions(row, folder).delete(row.subscription_id)
        log.info("deleted Graph subscription %s of %s/%s", row.subscription_id, row.user_id, row.object)
    if keep_row:  # a delta link the poll keeps there stays
        watermark = "" if _mark(row).get("mode") == "notify" else row.watermark
        MailboxSubscription.objects.filter(pk=row.pk).update(subscription_id="", client_state="", expires_at=None,
                                                             watermark=watermark, error_message="")
    else:
        row.delete()


def _failed(row: MailboxSubscription, error: ConnectorError, state: str = MailboxSubscription.State.FAILED) -> None:
    sentence = describe_error(error)
    log.warning("Graph feed of %s/%s: %s", row.user_id, row.object, sentence)
    row.state, row.error_message = state, sentence
    if row.pk is None:
        row.save()
    else:
        MailboxSubscription.objects.filter(pk=row.pk).update(state=state, error_message=sentence)


# ---- notifications (the endpoint) --------------------------------------------------------------------------------


def _notifications(payload: Any) -> list[Mapping[str, Any]]:
    value = payload.get("value") if isinstance(payload, Mapping) else None
    return [n for n in value if isinstance(n, Mapping)] if isinstance(value, list) else []


def _rows_by_subscription(notifications: list[Mapping[str, Any]]) -> dict[str, MailboxSubscription]:
    ids = {str(n.get("subscriptionId") or "") for n in notifications} - {""}
    return {r.subscription_id: r for r in MailboxSubscription.objects.filter(protocol=GRAPH, subscription_id__in=ids)}


def _genuine(row: MailboxSubscription | None, notification: Mapping[str, Any]) -> bool:
    """The notification names a subscription of ours and carries its client state (compared in constant time)."""
    if row is None or not row.client_state:
        return False
    return hmac.compare_digest(row.client_state.encode(), str(notification.get("clientState") or "").encode())


def handle_notifications(payload: Any, now: datetime | None = None) -> int:
    """Change notifications: mark each notified user's object dirty, except for the sync's own writes (the item's
    id and version are a link's). Notifications for an unknown subscription or with a wrong client state are
    ignored (logged). Answers how many user objects were marked."""
    now = now or timezone.now()
    notifications = _notifications(payload)
    rows = _rows_by_subscription(notifications)
    grouped: dict[int, list[Mapping[str, Any]]] = {}
    by_pk: dict[int, MailboxSubscription] = {}
    ignored = 0
    for notification in notifications:
        row = rows.get(str(notification.get("subscriptionId") or ""))
        if not _genuine(row, notification):
            ignored += 1
            continue
        grouped.setdefault(row.pk, []).append(notification)
        by_pk[row.pk] = row
    if ignored:
        log.warning("ignored %d Graph notification(s) for an unknown subscription or with a wrong client state",
                    ignored)
    marked = 0
    for pk, items in grouped.items():
        row = by_pk[pk]
        changes = {}
        for n in items:
            data = n.get("resourceData") if isinstance(n.get("resourceData"), Mapping) else {}
            changes[str(data.get("id") or "")] = str(data.get("@odata.etag") or "") if str(
                n.get("changeType") or "").lower() in ("created", "updated") else ""
        MailboxSubscription.objects.filter(pk=pk).update(last_event_at=now)
        # Held while a run of the object is under way (its own writes come back before it stored their versions).
        marked += report_outlook_changes(row.user_id, row.object, changes, now=now) and 1
    return marked


@dataclass(frozen=True)
class LifecycleWork:
    """Graph work a lifecycle notification asks for, done by a task (`apply_lifecycle`), not by the endpoint."""

    subscription: int  # MailboxSubscription pk
    action: str  # reauthorize | recreate


def handle_lifecycle(payload: Any, now: datetime | None = None) -> list[LifecycleWork]:
    """Lifecycle notifications: `missed` and `subscriptionRemoved` mark the object dirty at once (changes may have
    gone unnotified); `subscriptionRemoved` and `reauthorizationRequired` answer the Graph work to do in a task
    (`schedule_lifecycle`). Unknown subscriptions and wrong client states are ignored (logged)."""
    now = now or timezone.now()
    notifications = _notifications(payload)
    rows = _rows_by_subscription(notifications)
    work: list[LifecycleWork] = []
    for notification in notifications:
        row = rows.get(str(notification.get("subscriptionId") or ""))
        event = str(notification.get("lifecycleEvent") or "")
        if not _genuine(row, notification):
            log.warning("ignored a Graph lifecycle notification (%s) for an unknown subscription or with a wrong "
                        "client state", event[:40])
            continue
        MailboxSubscription.objects.filter(pk=row.pk).update(last_event_at=now)
        if event in ("missed", "subscriptionRemoved"):
            mark_dirty([row.user_id], [row.object], now=now)
        if event == "subscriptionRemoved":
            # Beat re-creates it too, should the task be lost.
            MailboxSubscription.objects.filter(pk=row.pk, subscription_id=row.subscription_id).update(
                state=MailboxSubscription.State.REMOVED,
                error_message="Microsoft Graph removed the subscription; a new one is being created.")
            work.append(LifecycleWork(row.pk, RECREATE))
        elif event == "reauthorizationRequired":
            work.append(LifecycleWork(row.pk, REAUTHORIZE))
        elif event != "missed":
            log.warning("ignored a Graph lifecycle notification of an unknown kind (%s)", event[:40])
    return work


def schedule_lifecycle(work: Iterable[LifecycleWork]) -> None:
    """Send each piece of lifecycle work to a worker once the surrounding transaction commits. A broker outage
    loses nothing for good: beat renews and re-creates subscriptions too."""

    def send(item: LifecycleWork) -> None:
        try:
            current_app.signature(LIFECYCLE_TASK, args=[item.subscription, item.action]).apply_async(
                queue="default", retry=False)
        except BrokerError as e:
            log.warning("could not queue Graph lifecycle work %s for subscription row %s: %s", item.action,
                        item.subscription, e)

    for item in work:
        transaction.on_commit(lambda item=item: send(item))


def apply_lifecycle(subscription: int, action: str, now: datetime | None = None) -> str:
    """The task's work: reauthorize (and renew) a subscription, or create it anew (marking the object dirty).
    Answers what was done, in a word; a failure is recorded on the row and left to beat."""
    now = now or timezone.now()
    row = MailboxSubscription.objects.filter(pk=subscription, protocol=GRAPH).select_related("user").first()
    url = settings.GRAPH_NOTIFICATION_URL
    if row is None:
        return "gone"
    item = watched_objects(now, [row.user_id]).get((row.user_id, row.object)) if url else None
    mailboxes = _Mailboxes()
    try:
        if item is None:
            _unsubscribe(row, mailboxes, keep_row=False)
            return "deleted"
        if action == REAUTHORIZE and row.state == MailboxSubscription.State.ACTIVE and row.subscription_id:
            feed = mailboxes.subscriptions(item)
            try:
                feed.reauthorize(row.subscription_id)
                expires = feed.renew(row.subscription_id, now=now)
            except NotFound:
                pass
            else:
                MailboxSubscription.objects.filter(pk=row.pk, subscription_id=row.subscription_id).update(
                    expires_at=expires, error_message="")
                return "reauthorized"
        _subscribe(row, item, url, mailboxes, now)
        return "recreated"
    except ConnectorError as e:
        _failed(row, e)
        return "failed"
