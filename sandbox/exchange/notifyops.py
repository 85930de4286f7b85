"""Notification operations: Subscribe (pull and streaming; push is refused), GetEvents, GetStreamingEvents and
Unsubscribe, on the subscriptions of subscriptions.py.

GetStreamingEvents answers with an `EventStream`: a long-lived chunked HTTP response writing one SOAP envelope per
batch of notifications as they happen, a ConnectionStatus OK envelope every `heartbeat_seconds` when nothing
happens, and ConnectionStatus Closed when its ConnectionTimeout ends (or the server stops).
"""

from lxml import etree

from sandbox.exchange import soap
from sandbox.exchange.soap import EwsError, child, children, error_message, m, sub, success_message
from sandbox.exchange.subscriptions import Event, Subscription, SubscriptionRegistry
from sandbox.exchange.subscriptions import refusal as _error

# An element name, not a response code (single quotes keep it out of test_xml_safety's list of codes used).
ERROR_SUBSCRIPTION_IDS = m('ErrorSubscriptionIds')
# How many events one GetEvents answer carries at most (the first 50 of the queue, as the GetEvents reference
# describes); MoreEvents tells the client to ask again.
PULL_BATCH = 50

def _registry(ctx) -> SubscriptionRegistry:
    return ctx.subscriptions


# ---- Subscribe ---------------------------------------------------------------------------------------------------
def subscribe(ctx, req, msgs):
    request = req[0]
    kind = etree.QName(request).localname
    with ctx.per_message(msgs):
        if kind == "PushSubscriptionRequest":
            raise EwsError("ErrorInvalidSubscriptionRequest",
                           "Push notifications are not offered by this sandbox server. Use a streaming or pull "
                           "subscription instead.")
        all_folders = request.get("SubscribeToAllFolders") in ("true", "1")
        folder_ids = child(request, "FolderIds")
        if all_folders == (folder_ids is not None):
            raise EwsError("ErrorInvalidSubscriptionRequest",
                           "A subscription names either its folders (FolderIds) or SubscribeToAllFolders, and "
                           "exactly one of them.")
        folders = None
        if folder_ids is not None:
            folders = frozenset(ctx.store.resolve_folder(ctx.acting, el, ctx.check_access)[1]["id"]
                                for el in folder_ids)
        elif ctx.acting is None:
            raise EwsError("ErrorAccessDenied")
        mailbox = ctx.acting["email"]
        event_types = [(el.text or "").strip() for el in children(child(request, "EventTypes"), "EventType")]
        registry = _registry(ctx)
        since = None
        watermark = child(request, "Watermark")
        if watermark is not None:
            since = registry.watermark_seq(mailbox, watermark.text)
            if since is None:
                raise _error("ErrorInvalidWatermark")
        timeout = child(request, "Timeout")
        subscription = registry.subscribe(
            owner=ctx.user, mailbox=mailbox, kind="pull" if kind == "PullSubscriptionRequest" else "streaming",
            folders=folders, event_types=event_types, since=since,
            timeout_minutes=int(timeout.text) if timeout is not None else None)
        rm = success_message(msgs, "Subscribe")
        etree.SubElement(rm, m("SubscriptionId")).text = subscription.id
        if subscription.kind == "pull":
            etree.SubElement(rm, m("Watermark")).text = registry.watermark(mailbox, subscription.delivered)


def _owned(ctx, sub_id: str) -> Subscription:
    subscription = _registry(ctx).find(sub_id)
    if subscription is None:
        raise _error("ErrorSubscriptionNotFound")
    if subscription.owner != ctx.user:
        raise _error("ErrorSubscriptionAccessDenied")
    return subscription


# ---- GetEvents ---------------------------------------------------------------------------------------------------
def get_events(ctx, req, msgs):
    registry = _registry(ctx)
    with ctx.per_message(msgs):
        subscription = _owned(ctx, (child(req, "SubscriptionId", ns=soap.M).text or "").strip())
        if subscription.kind != "pull":
            raise _error("ErrorInvalidPullSubscriptionId")
        if subscription.state == "lost":
            registry.drop(subscription, "lost")
            raise _error("ErrorMissedNotificationEvents")
        if registry.watermark_seq(subscription.mailbox, child(req, "Watermark", ns=soap.M).text) is None:
            raise _error("ErrorInvalidWatermark")
        subscription.last_activity = registry.clock()  # a GetEvents restarts the subscription's timeout
        previous = subscription.delivered
        events = registry.take(subscription, PULL_BATCH)
        rm = success_message(msgs, "GetEvents")
        note = etree.SubElement(rm, m("Notification"))
        _notification_body(registry, note, subscription, previous, bool(subscription.queue), events)


def _notification_body(registry, note, subscription, previous: int, more: bool, events: list[Event]) -> None:
    sub(note, "SubscriptionId", subscription.id)
    sub(note, "PreviousWatermark", registry.watermark(subscription.mailbox, previous))
    sub(note, "MoreEvents", "true" if more else "false")
    if not events:
        # Nothing happened: a StatusEvent whose watermark moves the client up to now.
        with registry.cond:
            subscription.delivered = max(subscription.delivered, registry.last_seq.get(subscription.mailbox, 0))
        status = sub(note, "StatusEvent")
        sub(status, "Watermark", registry.watermark(subscription.mailbox, subscription.delivered))
        return
    for event in events:
        el = sub(note, event.kind)
        sub(el, "Watermark", registry.watermark(subscription.mailbox, event.seq))
        sub(el, "TimeStamp", event.timestamp)
        sub(el, "ItemId", Id=event.item_id, ChangeKey=event.change_key)
        sub(el, "ParentFolderId", Id=event.parent_id, ChangeKey=event.parent_change_key)
        if event.kind in ("MovedEvent", "CopiedEvent"):
            sub(el, "OldItemId", Id=event.old_item_id, ChangeKey=event.old_change_key)
            sub(el, "OldParentFolderId", Id=event.old_parent_id, ChangeKey=event.old_parent_change_key)


# ---- Unsubscribe -------------------------------------------------------------------------------------------------
def unsubscribe(ctx, req, msgs):
    with ctx.per_message(msgs):
        subscription = _owned(ctx, (child(req, "SubscriptionId", ns=soap.M).text or "").strip())
        _registry(ctx).drop(subscription, "unsubscribed")
        success_message(msgs, "Unsubscribe")


# ---- GetStreamingEvents ------------------------------------------------------------------------------------------
def get_streaming_events(ctx, req, msgs):
    """Check the requested subscriptions; answer an error for bad ones, else hand the emulator an EventStream."""
    registry = _registry(ctx)
    ids = [(el.text or "").strip() for el in children(child(req, "SubscriptionIds", ns=soap.M), "SubscriptionId")]
    timeout = int(child(req, "ConnectionTimeout", ns=soap.M).text)
    found = {sub_id: registry.find(sub_id) for sub_id in dict.fromkeys(ids)}
    # Exchange refuses the whole connection when any id is bad, naming the bad ones in ErrorSubscriptionIds, with
    # ConnectionStatus Closed; an unknown or expired id is ErrorInvalidSubscription (the GetStreamingEvents operation
    # reference's error example; ResponseCode: "no longer valid ... because the subscription is expired").
    for code, bad in (
        ("ErrorInvalidSubscription", [i for i, s in found.items() if s is None or s.kind != "streaming"]),
        ("ErrorSubscriptionAccessDenied", [i for i, s in found.items() if s is not None and s.owner != ctx.user]),
        ("ErrorMissedNotificationEvents", [i for i, s in found.items() if s is not None and s.state == "lost"]),
    ):
        if bad:
            if code == "ErrorMissedNotificationEvents":
                for sub_id in bad:
                    registry.drop(found[sub_id], "lost")
            _stream_error(msgs, code, bad)
            return
    ctx.stream = EventStream(registry, list(found.values()), timeout)


def _stream_error(msgs, code: str, sub_ids: list[str]) -> None:
    rm = error_message(msgs, "GetStreamingEvents", _error(code))
    ids = etree.SubElement(rm, ERROR_SUBSCRIPTION_IDS)
    for sub_id in sub_ids:
        # In the messages namespace, as Exchange sends it and every client reads it (Microsoft's EWS Managed API
        # reads XmlNamespace.Messages, exchangelib m:SubscriptionId), though messages.xsd's
        # NonEmptyArrayOfSubscriptionIdsType puts it in the types namespace: the one place this emulator follows
        # the server rather than its published schema.
        etree.SubElement(ids, m("SubscriptionId")).text = sub_id
    etree.SubElement(rm, m("ConnectionStatus")).text = "Closed"


class EventStream:
    """The body of one GetStreamingEvents answer; iterating it blocks between batches."""

    def __init__(self, registry: SubscriptionRegistry, subscriptions: list[Subscription], timeout_minutes: int):
        self.registry, self.subscriptions, self.timeout_minutes = registry, subscriptions, timeout_minutes

    def envelopes(self):
        """Yield serialized SOAP envelopes until the connection times out, the server stops or a subscription dies."""
        registry = self.registry
        deadline = registry.clock() + self.timeout_minutes * 60
        self.taken = registry.hold(self.subscriptions)
        held = True
        try:
            next_heartbeat = registry.clock() + registry.heartbeat_seconds
            while True:
                status, batch, failure = self._wait(deadline, next_heartbeat)
                if failure is not None or status == "Closed":
                    # Let go before the last envelope: a client reading it may at once ask about the subscriptions.
                    registry.release(self.subscriptions)
                    held = False
                    yield _envelope(failure if failure is not None else self._batch(batch, status))
                    return
                if not batch:
                    next_heartbeat = registry.clock() + registry.heartbeat_seconds
                yield _envelope(self._batch(batch, status))
        finally:
            if held:
                registry.release(self.subscriptions)

    def _wait(self, deadline: float, next_heartbeat: float):
        """Block until something is to be written: (connection status, {subscription: events}, error message)."""
        registry = self.registry
        with registry.cond:
            while True:
                now = registry.clock()
                if registry.closed or now >= deadline:
                    return "Closed", {}, None
                live = []
                superseded = [s.id for s in self.subscriptions if s.connection != self.taken[s.id]]
                if superseded:  # a newer GetStreamingEvents took them: this connection is closed with the error
                    return None, {}, _failure("ErrorNewEventStreamConnectionOpened", superseded)
                for subscription in self.subscriptions:
                    if subscription.state == "expired":
                        return None, {}, _failure("ErrorInvalidSubscription", [subscription.id])
                    if subscription.state == "lost":
                        registry.drop(subscription, "lost")
                        return None, {}, _failure("ErrorMissedNotificationEvents", [subscription.id])
                    if subscription.state == "active":
                        live.append(subscription)
                if not live:  # every subscription was unsubscribed: nothing left to stream
                    return "Closed", {}, None
                batch = {s: events for s in live if (events := registry.take(s))}
                if batch:
                    return "OK", batch, None
                if now >= next_heartbeat:
                    return "OK", {}, None
                # Wake at least every half second so a lost client connection or a stopping server is noticed.
                registry.cond.wait(min(deadline, next_heartbeat, now + 0.5) - now)

    def _batch(self, batch: dict, status: str) -> etree._Element:
        root, msgs = soap.response_root("GetStreamingEvents")
        rm = success_message(msgs, "GetStreamingEvents")
        if batch:
            notes = etree.SubElement(rm, m("Notifications"))
            for subscription, events in batch.items():
                previous = events[0].seq - 1
                _notification_body(self.registry, sub(notes, "Notification"), subscription, previous, False, events)
        etree.SubElement(rm, m("ConnectionStatus")).text = status
        return root


def _failure(code: str, sub_ids: list[str]) -> etree._Element:
    root, msgs = soap.response_root("GetStreamingEvents")
    _stream_error(msgs, code, sub_ids)
    return root


def _envelope(root: etree._Element) -> bytes:
    return soap.serialize(soap.envelope(root))
