"""Whether an object's changes are reported by healthy change feeds, and what happens when a feed stops.

An object is *covered* when every end whose changes its direction reads has a live feed: Salesforce (the org feed of
the object, for `both` and `salesforce_to_outlook`) and Exchange (the user's EWS streaming subscription or Graph
subscription or delta polling, for `both` and `outlook_to_salesforce`). A covered object in a near-real-time
configuration runs when a change marks it dirty, and otherwise only every SYNC_SWEEP_HOURS; an object that is not
covered polls at its configuration's interval, exactly as a scheduled configuration does. So a deployment without
the listener, or with a feed down, is as current as polling, never less.

`watch_feeds` (each dispatcher tick) turns a feed that stops covering into a gap: every object it covered is marked
dirty once, so its next run happens now and sets the interval schedule instead of waiting for the sweep.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from configurations.models import Direction
from sync.feeds.dirty import mark_dirty
from sync.models import ChangeFeed, MailboxSubscription
from users.models import SyncObject

LISTENER_KEY = ""
LIVE_FEED_STATES = (ChangeFeed.State.HEALTHY, ChangeFeed.State.BEHIND)


def _reads_salesforce(direction: str) -> bool:
    return direction in (Direction.BOTH, Direction.SALESFORCE_TO_OUTLOOK)


def _reads_exchange(direction: str) -> bool:
    return direction in (Direction.BOTH, Direction.OUTLOOK_TO_SALESFORCE)


def listener_alive(now: datetime | None = None) -> bool:
    """Whether a listener beat its heartbeat recently (LISTENER_STALE_SECONDS)."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.LISTENER_STALE_SECONDS)
    return ChangeFeed.objects.filter(kind=ChangeFeed.Kind.LISTENER, key=LISTENER_KEY, heartbeat_at__gte=stale).exists()


def salesforce_feed_live(object_type: str, now: datetime | None = None, *, alive: bool | None = None) -> bool:
    """Whether the org feed of this object polled recently and is not failed (the listener drives it). `alive`:
    the listener's state when the caller already read it."""
    now = now or timezone.now()
    alive = listener_alive(now) if alive is None else alive
    # Three idle intervals of slack: a poll can be late by a long page read or a slow tick.
    recent = now - timedelta(seconds=3 * max(settings.SALESFORCE_FEED_IDLE_SECONDS, settings.SALESFORCE_FEED_SECONDS))
    return alive and ChangeFeed.objects.filter(
        kind=ChangeFeed.Kind.SALESFORCE, key=object_type, state__in=LIVE_FEED_STATES, last_poll_at__gte=recent
    ).exists()


def _live_subscriptions(now: datetime) -> Q:
    """The subscription rows that report changes now: active and not expired."""
    return Q(state=MailboxSubscription.State.ACTIVE) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def exchange_feed_live(user_id: int, object_type: str, protocol: str, now: datetime | None = None, *,
                       alive: bool | None = None) -> bool:
    """Whether this user's mailbox folder reports its changes (EWS streaming or Graph notifications / delta)."""
    now = now or timezone.now()
    pushed_by_graph = protocol == "graph" and bool(settings.GRAPH_NOTIFICATION_URL)
    if not pushed_by_graph and not (listener_alive(now) if alive is None else alive):
        return False
    return MailboxSubscription.objects.filter(
        _live_subscriptions(now), user_id=user_id, object=object_type, protocol=protocol
    ).exists()


def covered(user_id: int, object_type: str, direction: str, protocol: str, now: datetime | None = None) -> bool:
    """Whether every end this direction reads reports the object's changes through a live feed."""
    now = now or timezone.now()
    alive = listener_alive(now)  # read once: both ends' feeds depend on it
    if _reads_salesforce(direction) and not salesforce_feed_live(object_type, now, alive=alive):
        return False
    return not (_reads_exchange(direction)
                and not exchange_feed_live(user_id, object_type, protocol, now, alive=alive))


def watch_feeds(now: datetime | None = None) -> list[str]:
    """Turn feeds that stopped covering since the last look into gaps; answer their names (for the log).

    What covered at the last look is kept on the listener row (`cursor["covering"]`). The listener's heartbeat going
    stale stops every feed it drives: the Salesforce feeds, EWS streaming and Graph delta polling."""
    now = now or timezone.now()
    listener, _ = ChangeFeed.objects.get_or_create(kind=ChangeFeed.Kind.LISTENER, key=LISTENER_KEY)
    before = dict((listener.cursor or {}).get("covering", {}))
    alive = listener_alive(now)
    current = {"listener": alive}
    for object_type in SyncObject.values:
        current[f"salesforce:{object_type}"] = salesforce_feed_live(object_type, now, alive=alive)
    stopped = [name for name, was in before.items() if was and not current.get(name, False)]
    for name in stopped:
        if name == "listener":
            # Every object whose changes it reported: all of them (Graph pushed mailboxes included: cheap enough,
            # and correct first).
            mark_dirty(None, SyncObject.values, now=now)
        elif name.startswith("salesforce:"):
            mark_dirty(None, [name.partition(":")[2]], now=now)
    # Graph subscriptions that lapsed without renewal (beat down, renewal refused): a gap for their objects.
    lapsed = MailboxSubscription.objects.filter(
        state=MailboxSubscription.State.ACTIVE, protocol="graph", expires_at__lte=now
    )
    for user_id, object_type in lapsed.values_list("user_id", "object"):
        mark_dirty([user_id], [object_type], now=now)
    lapsed.update(state=MailboxSubscription.State.FAILED,
                  error_message="The Graph subscription expired before it was renewed, so changes were not "
                                "notified; the object is synced on its schedule until the subscription is renewed.")
    if current != before:
        cursor = dict(listener.cursor or {})
        cursor["covering"] = current
        ChangeFeed.objects.filter(pk=listener.pk).update(cursor=cursor)
        if before.get("listener") and not alive:
            ChangeFeed.objects.filter(pk=listener.pk).update(
                state=ChangeFeed.State.FAILED, failed_since=now, error_code="listener_stopped",
                error_message="The listener stopped beating its heartbeat, so changes are not pushed: every object "
                              "syncs at its configuration's interval until `manage.py listen` runs again.",
            )
    return stopped
