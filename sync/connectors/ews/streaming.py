"""EWS streaming notifications: subscribe a mailbox's synced folder, read the events of many subscriptions over one
long-lived GetStreamingEvents connection (`read_stream` keeps one open in a thread), unsubscribe. exchangelib's
notifications come out as plain `StreamEvent`s and its errors as three kinds: `SubscriptionsGone` (a gap: subscribe
again and catch up), `TransientError` (try again after a pause) and the rest (`NeedsAttention`, `PermanentError`:
credentials, rights, a missing folder)."""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from exchangelib.errors import (
    ErrorExpiredSubscription,
    ErrorInvalidSubscription,
    ErrorMissedNotificationEvents,
    ErrorNewEventStreamConnectionOpened,
    ErrorReadEventsFailed,
    ErrorSubscriptionNotFound,
    ErrorSubscriptionUnsubsribed,
)
from exchangelib.folders import Calendar, Contacts, FolderCollection, Tasks
from exchangelib.folders.base import BaseFolder
from exchangelib.properties import TimestampEvent
from exchangelib.services import GetStreamingEvents
from exchangelib.util import MNS, TNS, get_xml_attrs

from sync.connectors.base import ConnectorError, EwsSettings, TransientError
from sync.connectors.ews.errors import classify
from sync.connectors.ews.mailbox import EwsMailbox

log = logging.getLogger(__name__)

# Only what changes an item of the folder; NewMail and FreeBusyChanged add nothing a sync needs.
EVENT_TYPES = ("CreatedEvent", "ModifiedEvent", "DeletedEvent", "MovedEvent", "CopiedEvent")
KINDS = {"CreatedEvent": "created", "ModifiedEvent": "modified", "DeletedEvent": "deleted", "MovedEvent": "moved",
         "CopiedEvent": "copied", "NewMailEvent": "new_mail", "FreeBusyChangedEvent": "free_busy",
         "StatusEvent": "status"}
# Answers meaning the server no longer holds (all) the events of a subscription: what happened meanwhile is unknown.
GONE = (ErrorSubscriptionNotFound, ErrorExpiredSubscription, ErrorInvalidSubscription, ErrorSubscriptionUnsubsribed,
        ErrorMissedNotificationEvents, ErrorReadEventsFailed)
MAX_CONNECTION_MINUTES = 30  # Exchange's limit for one GetStreamingEvents connection
MAX_SUBSCRIPTIONS_PER_CONNECTION = 200  # Exchange's limit of subscriptions read over one connection


@dataclass(frozen=True)
class StreamEvent:
    """One change reported by Exchange for one subscription.

    `kind` is created | modified | deleted | moved | copied (or status, new_mail, free_busy); `item_id` and
    `change_key` are the item's (None for an event about a folder); `folder_id` the folder the item is in (or the
    folder the event is about); `watermark` the bookmark of this event."""

    subscription_id: str
    kind: str
    item_id: str | None
    change_key: str | None
    folder_id: str | None
    watermark: str | None

    @property
    def about_item(self) -> bool:
        return self.item_id is not None


class SubscriptionsGone(Exception):
    """Exchange no longer knows these subscriptions (expired, unsubscribed, events lost): each is a gap."""

    def __init__(self, subscription_ids: Sequence[str], code: str):
        self.subscription_ids = tuple(subscription_ids)
        self.code = code
        super().__init__(f"Exchange no longer knows {len(self.subscription_ids)} streaming subscription(s) "
                         f"(code {code}).")


def is_transient(error: BaseException) -> bool:
    """Whether trying again after a pause may help (everything else needs a person, or a new subscription)."""
    return isinstance(error, TransientError)


def synced_folder(mailbox: EwsMailbox, object_type: str, contacts_folder: str) -> BaseFolder:
    """The folder a sync of `object_type` reads: the named contacts subfolder (one FindFolder; never created here:
    a missing one is the runner's `contacts_folder_missing`), the primary calendar, the default tasks folder."""
    if object_type == "events":
        return mailbox.distinguished("calendar", Calendar)
    if object_type == "tasks":
        return mailbox.distinguished("tasks", Tasks)
    return mailbox.folder_by_id(mailbox.contacts_folder_id(contacts_folder, create=False), Contacts)


class EwsStreaming:
    """Streaming notifications of the mailboxes one EWS connection (service account) reaches by impersonation."""

    def __init__(self, settings: EwsSettings):
        self.settings = settings
        self._mailboxes: dict[tuple[str, bool], EwsMailbox] = {}
        self._lock = threading.Lock()
        self.open_connections = 0  # how many streams the caller keeps open at once (sizes the streams' pool)

    def mailbox(self, email: str, *, streams: bool = False) -> EwsMailbox:
        """The mailbox for ordinary calls, or (`streams`) as the stream connections reach it: over a protocol of
        their own (see transport.build_configuration)."""
        key = (email.strip().lower(), streams)
        with self._lock:
            if key not in self._mailboxes:
                self._mailboxes[key] = EwsMailbox(self.settings, key[0], streams=streams)
            return self._mailboxes[key]

    def subscribe(self, email: str, object_type: str, contacts_folder: str = "Salesforce_Sync") -> str:
        """Subscribe the mailbox's folder for `object_type` to streaming notifications; answers the subscription id."""
        mailbox = self.mailbox(email)
        folder = synced_folder(mailbox, object_type, contacts_folder)
        with mailbox.ews():
            return FolderCollection(account=mailbox.account, folders=[folder]).subscribe_to_streaming(
                event_types=EVENT_TYPES)

    def unsubscribe(self, email: str, subscription_id: str) -> None:
        """End a subscription; one Exchange no longer knows counts as ended."""
        mailbox = self.mailbox(email)
        try:
            with mailbox.ews(keep=GONE):
                FolderCollection(account=mailbox.account, folders=[]).unsubscribe(subscription_id)
        except GONE:
            pass

    def connect(self, email: str, subscription_ids: Sequence[str], minutes: int) -> StreamConnection:
        """A GetStreamingEvents connection for up to 200 subscriptions, made as `email` (one of their mailboxes:
        Exchange wants a group's connection made as one of its users)."""
        if not 0 < len(subscription_ids) <= MAX_SUBSCRIPTIONS_PER_CONNECTION:
            raise ValueError(f"a streaming connection reads 1 to {MAX_SUBSCRIPTIONS_PER_CONNECTION} subscriptions")
        mailbox = self.mailbox(email, streams=True)
        protocol = mailbox.account.protocol
        # Each open connection holds an HTTP session of the streams' pool for its whole life: make room for all of
        # them (and one reopening while its old session is being released), or they would wait for each other.
        protocol.max_connections = max(protocol.max_connections or 1, self.open_connections + 1)
        return StreamConnection(mailbox, list(subscription_ids), max(1, min(int(minutes), MAX_CONNECTION_MINUTES)))


class _GetStreamingEvents(GetStreamingEvents):
    """exchangelib's GetStreamingEvents, but:

    - it keeps the ids Exchange names as failing (ErrorSubscriptionIds): only those are gaps; the connection's other
      subscriptions are read again as they are;
    - it never retries or waits by itself: a failure comes straight back to the reader, which pauses where `close()`
      reaches it (exchangelib's own loop sleeps, and shrinks the session pool while this stream still holds its
      session);
    - a connection closed while its request was under way is shut as soon as the answer arrives (`close()` found no
      socket to shut yet): otherwise the reader would wait for the server's next heartbeat."""

    def __init__(self, *args, closed: threading.Event, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.error_subscription_ids: list[str] = []
        self._closed = closed

    def _get_elements(self, payload):  # type: ignore[no-untyped-def]
        try:
            yield from self._response_generator(payload=payload)
        finally:
            self.stop_streaming()

    def _get_response(self, payload, api_version):  # type: ignore[no-untyped-def]
        response = super()._get_response(payload=payload, api_version=api_version)
        # `close()` sets the event, then looks for the response; this stores the response, then looks at the event:
        # whichever comes second shuts the socket.
        if self._closed.is_set():
            _shutdown(response)
        return response

    def _get_element_container(self, message, name=None):  # type: ignore[no-untyped-def]
        failing = message.find(f"{{{MNS}}}ErrorSubscriptionIds")
        if failing is not None:
            # The schema puts the ids in the types namespace (NonEmptyArrayOfSubscriptionIdsType is a t: type);
            # exchangelib looks for them in the messages namespace only. Either is read.
            self.error_subscription_ids = [*get_xml_attrs(failing, f"{{{TNS}}}SubscriptionId"),
                                           *get_xml_attrs(failing, f"{{{MNS}}}SubscriptionId")]
        return super()._get_element_container(message=message, name=name)


class StreamConnection:
    """One GetStreamingEvents connection: `batches()` yields the events as they come, each notification a list,
    until the connection's time is up (the caller opens the next one); `close()`, from any thread, ends it at once."""

    def __init__(self, mailbox: EwsMailbox, subscription_ids: list[str], minutes: int):
        self.mailbox = mailbox
        self.subscription_ids = subscription_ids
        self.minutes = minutes
        self._service: _GetStreamingEvents | None = None
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def batches(self) -> Iterator[list[StreamEvent]]:
        """The events of each notification; raises SubscriptionsGone, or a connector error (see `is_transient`).
        Nothing is raised once `close()` was called: the iteration just ends."""
        if self.closed:
            return
        service = _GetStreamingEvents(account=self.mailbox.account, closed=self._closed)
        self._service = service
        try:
            # Everything is kept as raised, to be classified here: a read broken by close() is no failure to log.
            with self.mailbox.ews(keep=(Exception,)):
                for notification in service.call(subscription_ids=self.subscription_ids,
                                                 connection_timeout=self.minutes):
                    if self.closed:
                        return
                    if isinstance(notification, Exception):
                        raise notification
                    yield [_event(notification.subscription_id, e) for e in notification.events or ()]
        except ErrorNewEventStreamConnectionOpened:
            # A newer connection took these subscriptions (a group's merge reached its receiver): Exchange closed
            # this one and the events go there. A natural end: the reader asks which subscriptions remain its own.
            return
        except GONE as e:
            if self.closed:
                return
            failing = service.error_subscription_ids or self.subscription_ids
            raise SubscriptionsGone([i for i in failing if i in self.subscription_ids] or failing,
                                    type(e).__name__) from e
        except ConnectorError:
            raise
        except Exception as e:
            if self.closed:  # the socket shut under the read by close()
                return
            raise classify(e) from e
        finally:
            self._service = None
            if self.closed:
                _quietly_stop(service)

    def close(self) -> None:
        """End the connection now, from any thread: shut its socket down so that a blocked read returns."""
        self._closed.set()
        service = self._service
        response = getattr(service, "_streaming_response", None) if service is not None else None
        if response is not None:
            _shutdown(response)


def _event(subscription_id: str, event: object) -> StreamEvent:
    kind = KINDS.get(type(event).ELEMENT_NAME, type(event).ELEMENT_NAME)  # type: ignore[attr-defined]
    item_id = change_key = folder_id = None
    if isinstance(event, TimestampEvent):
        if event.item_id is not None:
            item_id, change_key = event.item_id.id, event.item_id.changekey
            folder_id = event.parent_folder_id.id if event.parent_folder_id is not None else None
        elif event.folder_id is not None:
            folder_id = event.folder_id.id
    return StreamEvent(subscription_id, kind, item_id, change_key, folder_id, getattr(event, "watermark", None))


def _shutdown(response: object) -> None:
    """Shut down the socket under a streaming requests response (closing the response alone does not wake a thread
    blocked reading it)."""
    raw = getattr(response, "raw", None)
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:
        fp = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        log.debug("streaming socket already shut", exc_info=True)


def _quietly_stop(service: GetStreamingEvents) -> None:
    try:
        service.stop_streaming()
    except Exception:  # a closed stream may fail to close again; nothing is left to release
        log.debug("streaming connection already released", exc_info=True)


# ---- a group of subscriptions read by one thread -------------------------------------------------------------------


@dataclass
class StreamGroup:
    """Subscriptions read over one GetStreamingEvents connection after the other, by one reader thread
    (`read_stream`). Its owner changes `subscription_ids` (replaced whole); the reader asks `next_ids` before each
    connection, so membership changes at a connection's natural end, never by cutting a stream."""

    key: int
    email: str  # the mailbox the connections are made as (one of the group's)
    subscription_ids: tuple[str, ...]
    stopping: threading.Event = field(default_factory=threading.Event)
    connection: StreamConnection | None = None
    thread: threading.Thread | None = None
    connects: int = 0  # connections opened so far
    # Subscriptions handed to another group (merging small groups): read here until that group's next connection
    # includes them too, then left out of this group's next connection. subscription id -> (receiver, its connects).
    handovers: dict[str, tuple[StreamGroup, int]] = field(default_factory=dict)

    def close(self) -> None:
        """End the group now (the reader's open connection too)."""
        self.stopping.set()
        connection = self.connection
        if connection is not None:
            connection.close()


def read_stream(group: StreamGroup, streaming: EwsStreaming, messages: queue.Queue,
                next_ids: Callable[[StreamGroup], tuple[str, ...]], *, minutes: int, longest_pause: float) -> None:
    """A reader thread's loop: keep the group's connection open (one after the other, each for `minutes`, with the
    subscriptions `next_ids` answers) and put what happens on `messages` as (what, group key, ...): ("events",
    key, [StreamEvent]), ("gone", key, ids, code), ("broken", key, error) before a pause (passing failures pause
    2, 4, 8 ... s up to `longest_pause`, or the server's wait), ("failed", key, error) when it gives up. Nothing is
    reported once the group is closed; a group left with nothing to read ends."""
    failures = 0
    while not group.stopping.is_set():
        opened = time.monotonic()
        subscription_ids = next_ids(group)
        if not subscription_ids:
            return
        try:
            connection = streaming.connect(group.email, subscription_ids, minutes)
            group.connection = connection
            if group.stopping.is_set():
                connection.close()
            for batch in connection.batches():
                failures = 0
                if batch:
                    messages.put(("events", group.key, batch))
            failures = 0
            if time.monotonic() - opened < 1.0:
                # A server that closes each connection at once must not make this loop spin.
                group.stopping.wait(1.0)
        except SubscriptionsGone as e:
            messages.put(("gone", group.key, e.subscription_ids, e.code))
            return
        except Exception as e:  # noqa: BLE001 - whatever ends a reader must reach the feed, or its rows go quiet
            if group.stopping.is_set():
                return
            error = e if isinstance(e, ConnectorError) else classify(e)
            if not is_transient(error):
                messages.put(("failed", group.key, error))
                return
            failures += 1
            messages.put(("broken", group.key, error))
            pause = min(longest_pause, 2.0 ** failures)
            retry_after = getattr(error, "retry_after", None)
            group.stopping.wait(max(pause, float(retry_after or 0)))
        finally:
            group.connection = None
