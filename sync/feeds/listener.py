"""The listener (`manage.py listen`): the one long-running process that drives the change feeds.

One listener is active per deployment: it holds the lease on the `listener` ChangeFeed row (compare-and-set, renewed
with each heartbeat); a second one started by mistake waits as a standby and takes over when the lease lapses. While
active it
- keeps the EWS streaming subscriptions in a thread of their own (`sync.feeds.ews.run_streams`),
- polls the Salesforce org feed of each synced object when due (`sync.feeds.salesforce.poll_feeds`),
- polls Graph mailboxes' deltas when no public notification URL is configured (`sync.feeds.graph_delta.poll_deltas`),
- queues runs for dirty objects as soon as their debounce has passed (`sync.dispatch.dispatch_due`), so a change
  does not wait for beat's next tick,
- and beats its heartbeat: `sync.feeds.coverage` treats a stale heartbeat as every feed down (objects poll at their
  interval, and the stop is a gap that marks them dirty).
On start every feed is a gap (the listener was not running): the EWS feed marks what it subscribes dirty, the
Salesforce feed resumes from its stored watermark.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import close_old_connections, connections
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from sync.dispatch import dispatch_due
from sync.feeds import ews, graph_delta, salesforce
from sync.feeds.coverage import LISTENER_KEY
from sync.leases import lease_owner
from sync.models import ChangeFeed
from users.models import UserObjectState

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5
GRAPH_SUBSCRIPTIONS_TASK = "sync.tasks.ensure_graph_subscriptions"  # sent by name: tasks import us, not the reverse
TICK_SECONDS = 1.0


def claim_listener(owner: str, now: datetime | None = None) -> bool:
    """Take or keep the listener lease (compare-and-set): only one owner holds it; a lapsed lease is free."""
    now = now or timezone.now()
    ChangeFeed.objects.get_or_create(kind=ChangeFeed.Kind.LISTENER, key=LISTENER_KEY)
    return bool(
        ChangeFeed.objects.filter(kind=ChangeFeed.Kind.LISTENER, key=LISTENER_KEY)
        .filter(Q(lease_owner="") | Q(lease_owner=owner) | Q(lease_expires_at__lt=now))
        .update(lease_owner=owner, heartbeat_at=now, state=ChangeFeed.State.HEALTHY, error_code="",
                error_message="", failed_since=None,
                lease_expires_at=now + timedelta(seconds=settings.LISTENER_LEASE_SECONDS))
    )


def release_listener(owner: str) -> None:
    ChangeFeed.objects.filter(kind=ChangeFeed.Kind.LISTENER, key=LISTENER_KEY, lease_owner=owner).update(
        lease_owner="", lease_expires_at=None, state=ChangeFeed.State.OFF, heartbeat_at=None,
        error_code="listener_stopped",
        error_message="The listener was stopped, so changes are not pushed: every object syncs at its "
                      "configuration's interval until `manage.py listen` runs again.",
    )


def dirty_waiting(now: datetime) -> bool:
    """Whether an object marked dirty has passed its debounce and has no run yet (a cheap indexed look)."""
    ready = now - timedelta(seconds=settings.SYNC_DEBOUNCE_SECONDS)
    return UserObjectState.objects.filter(dirty_at__lte=ready, lease_owner="").exists()


class Listener:
    """The listener's loop. `stop` ends it (signals set it); `run` returns once it stopped and let go its lease."""

    def __init__(self, *, owner: str | None = None, stop: threading.Event | None = None, ews_streams: bool = True):
        self.owner = owner or lease_owner()
        self.stop = stop or threading.Event()
        self.ews_streams = ews_streams
        self.active = False
        self._streams_stop = threading.Event()
        self._streams: threading.Thread | None = None
        self._next = {"salesforce": 0.0, "graph": 0.0, "heartbeat": 0.0, "dispatch": 0.0}

    def run(self) -> None:
        log.info("listener %s starting", self.owner)
        try:
            while not self.stop.is_set():
                close_old_connections()
                try:
                    self.tick()
                except Exception:  # a database blip or a defect: the loop lives on, the log tells
                    log.exception("listener tick failed; trying again in a few seconds")
                    self.stop.wait(5)
                self.stop.wait(TICK_SECONDS)
        finally:
            self._stop_streams()
            if self.active:
                release_listener(self.owner)
            log.info("listener %s stopped", self.owner)

    def tick(self) -> None:
        clock = time.monotonic()
        if clock >= self._next["heartbeat"]:
            self._next["heartbeat"] = clock + HEARTBEAT_SECONDS
            was_active, self.active = self.active, claim_listener(self.owner)
            if self.active and not was_active:
                log.info("listener %s holds the lease: feeds started", self.owner)
                self._start_streams()
                self._kick_graph_subscriptions()
            elif was_active and not self.active:
                log.warning("listener %s lost its lease to another listener: standing by", self.owner)
                self._stop_streams()
            elif not self.active:
                log.info("another listener holds the lease; %s stands by", self.owner)
        if not self.active:
            return
        if self._streams is not None and not self._streams.is_alive() and not self.stop.is_set():
            log.warning("the EWS streaming thread ended; starting it again")
            self._start_streams()
        if clock >= self._next["salesforce"]:
            self._next["salesforce"] = clock + self._guarded("Salesforce org feed", salesforce.poll_feeds)
        if not settings.GRAPH_NOTIFICATION_URL and clock >= self._next["graph"]:
            self._next["graph"] = clock + self._guarded("Graph delta polling", graph_delta.poll_deltas)
        if clock >= self._next["dispatch"]:
            self._next["dispatch"] = clock + TICK_SECONDS
            if dirty_waiting(timezone.now()):
                dispatched = dispatch_due()
                if dispatched.count:
                    log.info("queued %d run(s) for changed objects", dispatched.count)

    def _kick_graph_subscriptions(self) -> None:
        """Have Graph's subscriptions made now rather than at beat's first 15-minute tick: until a Graph mailbox
        has one, its objects poll at their interval."""
        if not settings.GRAPH_NOTIFICATION_URL:
            return
        try:
            current_app.send_task(GRAPH_SUBSCRIPTIONS_TASK, queue="default")
        except (BrokerError, OSError) as exc:  # beat's own tick does it later
            log.warning("could not ask for Graph subscriptions now (%s); beat's next tick makes them", exc)

    def _guarded(self, name: str, poll) -> float:
        """Run one feed's poll; answer seconds until it is due again (a failure waits a little, never stops us)."""
        try:
            return max(float(poll()), TICK_SECONDS)
        except Exception:  # the feed records its own failure; the other feeds go on
            log.exception("%s failed; trying again in 30 seconds", name)
            return 30.0

    def _start_streams(self) -> None:
        if not self.ews_streams:
            return
        self._streams_stop = threading.Event()
        self._streams = threading.Thread(target=self._streams_main, args=(self._streams_stop,),
                                         name="ews-streams", daemon=True)
        self._streams.start()

    def _streams_main(self, stop: threading.Event) -> None:
        try:
            ews.run_streams(stop)
        except Exception:  # restarted by the next tick
            log.exception("EWS streaming stopped on an error")
        finally:
            # The thread ends here: its own connections go with it (close_old_connections keeps a persistent one
            # open, and nobody would use it again).
            connections.close_all()

    def _stop_streams(self) -> None:
        self._streams_stop.set()
        if self._streams is not None:
            self._streams.join(timeout=30)
            self._streams = None
