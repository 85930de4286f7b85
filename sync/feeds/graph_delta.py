"""Graph delta polling, where no public notification URL is configured (GRAPH_NOTIFICATION_URL unset).

The listener calls `poll_deltas` every GRAPH_DELTA_POLL_SECONDS: one cheap signal delta read per Graph user's synced
object (the delta link kept in the `MailboxSubscription` row's `watermark`), in a small thread pool (reads are
network-bound; Graph throttles per mailbox, not per app). Changed items other than the sync's own writes mark the
object dirty; a new round (first read, a link Graph forgot, a moved events window) marks it once. The feed's health
goes to the `graph_delta` ChangeFeed row.
"""

from __future__ import annotations

import contextlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from sync.connectors.base import CallCounter, ConnectorError
from sync.connectors.graph.errors import NotFound, SyncStateGone
from sync.connectors.graph.subscriptions import Signal
from sync.error_words import describe_error
from sync.feeds.dirty import mark_dirty, only_echoes
from sync.feeds.graph import (  # the subscription side's own helpers: one notion of what is watched
    GRAPH,
    Watched,
    _failed,
    _Mailboxes,
    _mark,
    _window_key,
    watched_objects,
)
from sync.models import ChangeFeed, MailboxSubscription

DELTA_POLL_THREADS = 8  # mailboxes read at once by a delta poll (network-bound; Graph throttles per mailbox)



@dataclass
class _Read:
    """One signal read to make (plain data: made in a worker thread) and what came of it."""

    watched: Watched
    link: str | None
    signal: Signal | None = None
    error: ConnectorError | None = None


@dataclass
class PollSummary:
    objects: int = 0
    marked: int = 0
    failed: int = 0
    api_calls: int = 0
    errors: list[str] = field(default_factory=list)


def poll_deltas(now: datetime | None = None) -> float:
    """The listener, while GRAPH_NOTIFICATION_URL is unset: every GRAPH_DELTA_POLL_SECONDS, one signal delta read
    per Graph user's synced object; changed items (other than the sync's own writes) mark the object dirty, a new
    round (first read, link gone, window moved) marks it once. Health goes to the `graph_delta` ChangeFeed row.
    Answers the seconds until the next poll is due."""
    now = now or timezone.now()
    interval = float(settings.GRAPH_DELTA_POLL_SECONDS)
    feed, _ = ChangeFeed.objects.get_or_create(kind=ChangeFeed.Kind.GRAPH_DELTA, key="")
    if settings.GRAPH_NOTIFICATION_URL:
        if feed.state != ChangeFeed.State.OFF:
            ChangeFeed.objects.filter(pk=feed.pk).update(state=ChangeFeed.State.OFF, error_code="", error_message="")
        return interval
    if feed.last_poll_at is not None and now < feed.last_poll_at + timedelta(seconds=interval):
        return (feed.last_poll_at + timedelta(seconds=interval) - now).total_seconds()
    started = time.monotonic()
    summary = _poll(now)
    _record_poll(feed, summary, now, time.monotonic() - started, interval)
    return interval


def _poll(now: datetime) -> PollSummary:
    watched = watched_objects(now)
    rows = {(r.user_id, r.object): r for r in MailboxSubscription.objects.filter(protocol=GRAPH)}
    for key, row in rows.items():
        if key not in watched and not row.subscription_id:  # a subscription left is beat's to delete
            row.delete()
    reads = []
    for key, item in watched.items():
        mark = _mark(rows[key]) if key in rows else {}
        current = (mark.get("mode") == "delta" and mark.get("folder") == item.contacts_folder
                   and mark.get("window") == _window_key(item))
        reads.append(_Read(item, mark.get("delta") if current else None))
    mailboxes = _Mailboxes()
    with contextlib.suppress(ConnectorError):  # each read reports it
        mailboxes.settings()  # read here, not in the threads: it reads the database
    by_user: dict[int, list[_Read]] = {}
    for read in reads:
        by_user.setdefault(read.watched.user.pk, []).append(read)
    with ThreadPoolExecutor(max_workers=DELTA_POLL_THREADS) as pool:
        counters = list(pool.map(lambda user_reads: _read_mailbox(user_reads, mailboxes), by_user.values()))
    summary = PollSummary(objects=len(reads), api_calls=sum(c.calls for c in counters))
    for read in reads:
        _apply_read(read, rows.get(read.watched.key), summary, now)
    return summary


def _read_mailbox(reads: list[_Read], mailboxes: _Mailboxes) -> CallCounter:
    """One user's signal reads, in a worker thread (no database here); answers the requests they cost."""
    calls = CallCounter()
    for read in reads:
        try:
            feed = mailboxes.subscriptions(read.watched, calls=calls)
            try:
                read.signal = feed.signal(read.watched.object, read.link, window=read.watched.window)
            except SyncStateGone:  # Graph forgot the link: a new round, and the gap marks the object dirty
                read.signal = feed.signal(read.watched.object, None, window=read.watched.window)
        except NotFound as e:
            read.error = ConnectorError(e.code or "ResourceNotFound", "The folder or list the sync reads is gone "
                                        "from the mailbox; the next sync of the object says what to do.",
                                        own_words=True)
        except ConnectorError as e:
            read.error = e
    return calls


def _apply_read(read: _Read, row: MailboxSubscription | None, summary: PollSummary, now: datetime) -> None:
    item = read.watched
    row = row or MailboxSubscription(user=item.user, object=item.object, protocol=GRAPH)
    if read.error is not None or read.signal is None:
        error = read.error or ConnectorError("no_answer", "The delta read got no answer.", own_words=True)
        summary.failed += 1
        summary.errors.append(describe_error(error))
        _failed(row, error)
        return
    signal = read.signal
    changes = dict(signal.changed)
    changes.update(dict.fromkeys(signal.removed, ""))
    dirty = signal.first or (bool(changes) and not only_echoes(item.user.pk, item.object, changes))
    if dirty and mark_dirty([item.user.pk], [item.object], now=now):
        summary.marked += 1
    row.watermark = json.dumps({"mode": "delta", "delta": signal.delta_link, "folder": item.contacts_folder,
                                "window": _window_key(item)})
    row.state, row.error_message = MailboxSubscription.State.ACTIVE, ""
    if changes or signal.first:
        row.last_event_at = now
    if row.pk is None:
        row.save()
    else:
        row.save(update_fields=["watermark", "state", "error_message", "last_event_at", "updated_at"])


def _record_poll(feed: ChangeFeed, summary: PollSummary, now: datetime, seconds: float, interval: float) -> None:
    if not summary.objects:
        state, message = ChangeFeed.State.OFF, ""
    elif summary.failed == summary.objects:
        state = ChangeFeed.State.FAILED
        message = f"Every Graph delta read failed ({summary.failed}): {summary.errors[0]}"
    elif summary.failed:
        state = ChangeFeed.State.BEHIND
        message = (f"{summary.failed} of {summary.objects} Graph delta reads failed; those objects sync at their "
                   f"configuration's interval until they work again. The first: {summary.errors[0]}")
    elif seconds > interval:
        state = ChangeFeed.State.BEHIND
        message = (f"A Graph delta poll took {seconds:.0f} seconds, longer than GRAPH_DELTA_POLL_SECONDS "
                   f"({interval:.0f}): changes are seen late. Raise the interval or give the listener more time.")
    else:
        state, message = ChangeFeed.State.HEALTHY, ""
    failing = state == ChangeFeed.State.FAILED
    ChangeFeed.objects.filter(pk=feed.pk).update(
        state=state, error_message=message, error_code="graph_delta_failed" if failing else "",
        failed_since=(feed.failed_since or now) if failing else None, last_poll_at=now, lag_seconds=seconds,
        last_change_at=now if summary.marked else feed.last_change_at,
        api_calls=feed.api_calls + summary.api_calls,
        cursor={"objects": summary.objects, "marked": summary.marked, "failed": summary.failed})
