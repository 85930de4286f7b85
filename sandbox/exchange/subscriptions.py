"""EWS notification subscriptions: who watches which folders of which mailbox, the events recorded for them, their
watermarks and when they expire. The operations that use them (Subscribe, GetEvents, GetStreamingEvents,
Unsubscribe) are in notifyops.py.

Every change to an item reaches `SubscriptionRegistry.record` through the store's one change hook
(`Store.on_item_event`), whichever operation made it. Memory stays bounded: each mailbox keeps a journal of its last
`journal_limit` events (for Subscribe with a watermark) and each subscription a queue of at most `queue_limit`
undelivered events. A subscription whose queue overflows has lost events: like Exchange, the server then answers
ErrorMissedNotificationEvents for it once and deletes it, and the client must subscribe again (and resynchronise).
"""

import base64
import binascii
import threading
import time
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field

from sandbox.exchange.soap import EwsError

EVENT_TYPES = ("CopiedEvent", "CreatedEvent", "DeletedEvent", "ModifiedEvent", "MovedEvent", "NewMailEvent",
               "FreeBusyChangedEvent")
# Exchange deletes a streaming subscription 30 minutes after the last connection holding it ended.
STREAMING_EXPIRY_SECONDS = 30 * 60
# How often an open GetStreamingEvents connection gets a ConnectionStatus OK message when nothing happens.
HEARTBEAT_SECONDS = 60.0
QUEUE_LIMIT = 1000
JOURNAL_LIMIT = 2000
_WATERMARK_MAGIC = b"SBXW"
# Subscriptions one mailbox may have: Exchange Online's EWSMaxSubscriptions (20), charged against the target mailbox
# when a service account impersonates it (Exchange team blog, "Exchange Online EWSMaxSubscriptions throttling budget
# calculation has been updated", 2012). A listener that resubscribes without unsubscribing runs into it.
MAILBOX_SUBSCRIPTION_LIMIT = 20

MESSAGES = {
    "ErrorSubscriptionNotFound": "The specified subscription was not found: it expired, was removed or never "
                                 "existed. Create a new subscription and resynchronise the folders it watched.",
    "ErrorInvalidSubscription": "The subscription is no longer valid: it expired, was removed or never existed. "
                                "Create a new subscription and resynchronise the folders it watched.",
    "ErrorSubscriptionAccessDenied": "The subscription belongs to another account: only the account that created "
                                     "it can use it. Use that account, or subscribe with this one.",
    "ErrorMissedNotificationEvents": "Events were missed because the subscription's queue overflowed, so the "
                                     "subscription was deleted. Create a new one and resynchronise its folders.",
    "ErrorInvalidWatermark": "The watermark is not one this server issued for this mailbox. Use the watermark of the "
                             "last event received, or create a new subscription.",
    "ErrorEventNotFound": "The events after this watermark are no longer kept. Create a new subscription without a "
                          "watermark and resynchronise the folders.",
    "ErrorExceededSubscriptionCount": "This mailbox already has as many subscriptions as the server allows. "
                                      "Unsubscribe the ones no longer used, or wait until they expire.",
    "ErrorNewEventStreamConnectionOpened": "A new GetStreamingEvents connection was opened for this subscription, so "
                                           "this one is closed. Read its events on the new connection only.",
    "ErrorInvalidPullSubscriptionId": "GetEvents needs a pull subscription; this id names a streaming subscription, "
                                      "whose events come through GetStreamingEvents.",
}


def refusal(code: str) -> EwsError:
    """The error Exchange answers with `code`, with a message saying what to do."""
    return EwsError(code, MESSAGES[code])


@dataclass
class Event:
    """One item event as a notification reports it: ids and change keys as the item had them after the change."""

    seq: int
    kind: str  # CreatedEvent, ModifiedEvent, DeletedEvent, MovedEvent, CopiedEvent, NewMailEvent
    timestamp: str
    item_id: str
    change_key: str
    parent_id: str
    parent_change_key: str
    old_item_id: str | None = None
    old_change_key: str | None = None
    old_parent_id: str | None = None
    old_parent_change_key: str | None = None


@dataclass(eq=False)  # identity: subscriptions key the batches of a stream
class Subscription:
    id: str
    owner: str  # the account that created it (the service account when impersonating): only it may use it
    mailbox: str  # the mailbox whose folders it watches
    kind: str  # "pull" or "streaming"
    folders: frozenset | None  # folder ids; None: every folder of the mailbox (SubscribeToAllFolders)
    event_types: frozenset
    timeout_minutes: int | None  # pull only: expires when no GetEvents came within this many minutes
    last_activity: float
    delivered: int  # sequence number of the last event handed to the client (its watermark)
    queue: deque = field(default_factory=deque)
    state: str = "active"  # active | lost (queue overflowed) | expired | unsubscribed
    holders: int = 0  # open GetStreamingEvents connections holding it
    # Bumped by each GetStreamingEvents that takes the subscription: Exchange serves it on one connection only, and
    # an older connection still holding it is closed with ErrorNewEventStreamConnectionOpened.
    connection: int = 0

    def watches(self, event: Event) -> bool:
        if event.kind not in self.event_types:
            return False
        return self.folders is None or event.parent_id in self.folders or event.old_parent_id in self.folders


class SubscriptionRegistry:
    """All subscriptions of one emulator, guarded by one condition that open streams wait on."""

    def __init__(self, *, streaming_expiry_seconds: float = STREAMING_EXPIRY_SECONDS,
                 heartbeat_seconds: float = HEARTBEAT_SECONDS, queue_limit: int = QUEUE_LIMIT,
                 journal_limit: int = JOURNAL_LIMIT, mailbox_subscription_limit: int = MAILBOX_SUBSCRIPTION_LIMIT,
                 clock=time.monotonic):
        self.streaming_expiry_seconds = streaming_expiry_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.queue_limit, self.journal_limit = queue_limit, journal_limit
        self.mailbox_subscription_limit = mailbox_subscription_limit
        self.clock = clock
        self.cond = threading.Condition()
        self.subscriptions: dict[str, Subscription] = {}
        self.journals: dict[str, deque] = {}
        self.last_seq: dict[str, int] = {}
        self.generation = 1  # bumped by reset: watermarks from before a reset never match
        self.closed = False

    # ---- recording -----------------------------------------------------------------------------------------------
    def record(self, mailbox: str, kind: str, **ids) -> None:
        """Record one item event of `mailbox` and queue it for every subscription watching it."""
        with self.cond:
            seq = self.last_seq.get(mailbox, 0) + 1
            self.last_seq[mailbox] = seq
            event = Event(seq=seq, kind=kind, timestamp=_now(), **ids)
            self.journals.setdefault(mailbox, deque(maxlen=self.journal_limit)).append(event)
            woken = False
            for sub in self.subscriptions.values():
                if sub.mailbox != mailbox or sub.state != "active" or not sub.watches(event):
                    continue
                if len(sub.queue) >= self.queue_limit:
                    sub.state = "lost"  # events were dropped: the client must resubscribe and resynchronise
                    sub.queue.clear()
                else:
                    sub.queue.append(event)
                woken = True
            if woken:
                self.cond.notify_all()

    # ---- watermarks ----------------------------------------------------------------------------------------------
    def watermark(self, mailbox: str, seq: int) -> str:
        raw = (_WATERMARK_MAGIC + self.generation.to_bytes(4, "big") + zlib.crc32(mailbox.encode()).to_bytes(4, "big")
               + seq.to_bytes(8, "big"))
        return base64.b64encode(raw).decode()

    def watermark_seq(self, mailbox: str, text: str | None) -> int | None:
        """The sequence number a watermark of `mailbox` stands for; None when it is not one this server gave."""
        try:
            raw = base64.b64decode((text or "").strip().encode(), validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(raw) != 20 or raw[:4] != _WATERMARK_MAGIC or int.from_bytes(raw[4:8], "big") != self.generation \
                or int.from_bytes(raw[8:12], "big") != zlib.crc32(mailbox.encode()):
            return None
        seq = int.from_bytes(raw[12:], "big")
        return seq if seq <= self.last_seq.get(mailbox, 0) else None

    # ---- lifecycle -----------------------------------------------------------------------------------------------
    def subscribe(self, *, owner: str, mailbox: str, kind: str, folders, event_types, timeout_minutes=None,
                  since: int | None = None) -> Subscription:
        """A new subscription; `since` (a watermark's sequence number) replays the journal's later events. Raises
        EwsError ErrorEventNotFound when the journal no longer holds them all, ErrorExceededSubscriptionCount when
        the mailbox has as many subscriptions as allowed."""
        with self.cond:
            self._expire_due()  # expired subscriptions leave memory as new ones come
            if sum(s.mailbox == mailbox for s in self.subscriptions.values()) >= self.mailbox_subscription_limit:
                raise refusal("ErrorExceededSubscriptionCount")
            current = self.last_seq.get(mailbox, 0)
            sub = Subscription(id=_new_id(), owner=owner, mailbox=mailbox, kind=kind, folders=folders,
                               event_types=frozenset(event_types), timeout_minutes=timeout_minutes,
                               last_activity=self.clock(), delivered=current if since is None else since)
            if since is not None:
                journal = self.journals.get(mailbox, ())
                oldest = journal[0].seq if journal else current + 1
                if since + 1 < oldest:
                    raise refusal("ErrorEventNotFound")
                sub.queue.extend(e for e in journal if e.seq > since and sub.watches(e))
            self.subscriptions[sub.id] = sub
            return sub

    def find(self, sub_id: str) -> Subscription | None:
        with self.cond:
            self._expire_due()
            return self.subscriptions.get(sub_id)

    def drop(self, sub: Subscription, state: str) -> None:
        with self.cond:
            if self.subscriptions.get(sub.id) is sub:
                del self.subscriptions[sub.id]
            sub.state = state
            sub.queue.clear()
            self.cond.notify_all()

    def expire(self, mailbox: str | None = None) -> list[str]:
        """Expire subscriptions now (all, or one mailbox's): what the server does when they time out."""
        with self.cond:
            gone = [s for s in self.subscriptions.values() if mailbox is None or s.mailbox == mailbox]
            for sub in gone:
                del self.subscriptions[sub.id]
                sub.state = "expired"
                sub.queue.clear()
            self.cond.notify_all()
            return [s.id for s in gone]

    def _expire_due(self) -> None:
        now = self.clock()
        for sub in list(self.subscriptions.values()):
            if sub.kind == "pull":
                due = now - sub.last_activity > sub.timeout_minutes * 60
            else:
                due = sub.holders == 0 and now - sub.last_activity > self.streaming_expiry_seconds
            if due:
                del self.subscriptions[sub.id]
                sub.state = "expired"
                sub.queue.clear()

    def hold(self, subs: list[Subscription]) -> dict[str, int]:
        """A connection takes these subscriptions; answers its number for each (an older holder sees it changed)."""
        with self.cond:
            taken = {}
            for sub in subs:
                sub.holders += 1
                sub.connection += 1
                sub.last_activity = self.clock()
                taken[sub.id] = sub.connection
            self.cond.notify_all()  # the connection that held them before learns it at once
            return taken

    def release(self, subs: list[Subscription]) -> None:
        with self.cond:
            for sub in subs:
                sub.holders = max(0, sub.holders - 1)
                sub.last_activity = self.clock()

    def take(self, sub: Subscription, limit: int | None = None) -> list[Event]:
        """Hand the client the next queued events (all, or at most `limit`); they count as delivered."""
        with self.cond:
            out = []
            while sub.queue and (limit is None or len(out) < limit):
                out.append(sub.queue.popleft())
            if out:
                sub.delivered = out[-1].seq
            return out

    def reset(self) -> None:
        """Forget every subscription and event (the sandbox was reset); open streams end."""
        with self.cond:
            for sub in self.subscriptions.values():
                sub.state = "expired"
                sub.queue.clear()
            self.subscriptions.clear()
            self.journals.clear()
            self.last_seq.clear()
            self.generation += 1
            self.cond.notify_all()

    def close(self) -> None:
        """The server is stopping: open streams send ConnectionStatus Closed and end at once."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def listing(self, mailbox: str | None = None) -> list[dict]:
        with self.cond:
            self._expire_due()
            return [{"mailbox": s.mailbox, "id": s.id, "kind": s.kind, "owner": s.owner,
                     "folders": "all" if s.folders is None else sorted(s.folders),
                     "event_types": sorted(s.event_types), "queued_events": len(s.queue), "state": s.state,
                     "connected": s.holders > 0, "timeout_minutes": s.timeout_minutes}
                    for s in self.subscriptions.values() if mailbox is None or s.mailbox == mailbox]


def _new_id() -> str:
    # Exchange's subscription ids are base64 of a server-specific binary blob; a random one does as well.
    return base64.b64encode(b"\x10\x00SBX" + uuid.uuid4().bytes).decode()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
