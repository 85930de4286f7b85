"""Runs that wait, and runs whose message went missing: found in the database and sent again.

The database is the record of what must run (sync.queue). Each beat tick `recover_queue` sends

- runs whose object was busy when their task came (`deferred_until` has passed),
- runs never sent (the broker was unreachable when they were queued),
- runs whose message is gone: the broker holds fewer messages for a queue than there are runs waiting on it, and
  the runs sent longest ago are the ones it lost (a queue is first in, first out). That is what a broker restarted
  without its data, or a task that died before it could touch its run (the database was down), leaves behind.

A lost run already sent `SYNC_RUN_MAX_SENDS` times is closed as `never_started`, with a sentence, so it
no longer blocks its object; the dispatcher queues a new one when the object is due.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from sync.leases import SyncUnavailable
from sync.models import Preview, SyncRun
from sync.queue import RUN_QUEUES, enqueue_runs, queue_for, waiting_messages

log = logging.getLogger(__name__)

UNSENT_GRACE = timedelta(seconds=10)  # a run's own transaction sends it on commit: leave it that long
NEVER_STARTED = "never_started"


@dataclass
class Recovered:
    deferred: list[int] = field(default_factory=list)
    unsent: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    closed: int = 0

    @property
    def sent(self) -> int:
        return len(self.deferred) + len(self.unsent) + len(self.lost)


def defer_run(run_id: int, exc: SyncUnavailable, now: datetime | None = None) -> bool:
    """A run whose object another run holds waits as a row and is sent again later; after too many sends it gives
    up as `already_running`. Answers whether the run will be tried again."""
    now = now or timezone.now()
    waiting = SyncRun.objects.filter(pk=run_id, state__in=[SyncRun.State.QUEUED, SyncRun.State.RUNNING])
    if waiting.filter(state=SyncRun.State.QUEUED, sends__gte=settings.SYNC_RUN_MAX_SENDS).update(
        state=SyncRun.State.FAILED, finished_at=now, error_code="already_running",
        error_message=f"{exc} The run waited for it {settings.SYNC_RUN_MAX_SENDS} times and gave up; "
                      f"the next scheduled run will try again.",
    ):
        return False
    # A running run is deferred too: its message came again while its worker may have died; once the lease
    # expires the next send takes it over, and if it finished meanwhile that send ends at once.
    return bool(waiting.update(deferred_until=now + timedelta(seconds=settings.SYNC_BUSY_RETRY_SECONDS)))


def recover_queue(now: datetime | None = None) -> Recovered:
    """Send again what waits, was never sent or was lost; close what was sent too often (see the module doc)."""
    now = now or timezone.now()
    recovered = Recovered()
    waiting = SyncRun.objects.filter(state=SyncRun.State.QUEUED)
    lost = _lost_runs(waiting, now)
    given_up = [run.pk for run in lost if run.sends >= settings.SYNC_RUN_MAX_SENDS]
    lost = [run for run in lost if run.sends < settings.SYNC_RUN_MAX_SENDS]
    recovered.closed = waiting.filter(pk__in=given_up).update(
        state=SyncRun.State.FAILED, finished_at=now, error_code=NEVER_STARTED,
        error_message=f"No worker started this run although it was sent {settings.SYNC_RUN_MAX_SENDS} times. "
                      f"Check that the worker processes are running; the next scheduled run will try again.",
    )
    due = list(SyncRun.objects.filter(
        Q(state=SyncRun.State.QUEUED) | Q(state=SyncRun.State.RUNNING, deferred_until__isnull=False),
        deferred_until__lte=now,
    ))
    unsent = list(waiting.filter(sent_at__isnull=True, deferred_until__isnull=True, created_at__lt=now - UNSENT_GRACE))
    recovered.deferred = [run.pk for run in due]
    recovered.unsent = [run.pk for run in unsent]
    recovered.lost = [run.pk for run in lost]
    if lost:
        log.warning("the broker no longer holds the messages of %d queued run(s); sending them again", len(lost))
    enqueue_runs([*due, *unsent, *lost])
    return recovered


def _resend_after() -> timedelta:
    return timedelta(seconds=settings.SYNC_QUEUED_RUN_RESEND_SECONDS)


def _lost_runs(waiting, now: datetime) -> list[SyncRun]:
    """Per run queue: as many of the runs sent longest ago as the broker is short of messages."""
    try:
        held = waiting_messages()
    except Exception as exc:  # noqa: BLE001 - an unreachable broker cannot be sent to either: try next tick
        log.warning("cannot count the broker's messages (%s); lost runs are looked for at the next tick", exc)
        return []
    sent = waiting.filter(sent_at__isnull=False, deferred_until__isnull=True)
    lost: list[SyncRun] = []
    for name in RUN_QUEUES:
        on_queue = sent.filter(full=(name == "initial"))
        missing = on_queue.count() - held.get(name, 0)
        if missing > 0:
            candidates = on_queue.filter(sent_at__lt=now - _resend_after()).order_by("sent_at", "pk")[:missing]
            lost.extend(run for run in candidates if queue_for(run) == name)
    return lost


PREVIEW_STALLED_AFTER = timedelta(minutes=30)


def close_stalled_previews(now: datetime | None = None) -> int:
    """Previews (dry runs, impact previews) still queued or running half an hour after they were asked for: their
    message was lost or their worker died. They end as failed with a sentence, so the page stops waiting."""
    now = now or timezone.now()
    return Preview.objects.filter(
        state__in=[Preview.State.QUEUED, Preview.State.RUNNING], created_at__lt=now - PREVIEW_STALLED_AFTER,
    ).update(state=Preview.State.FAILED, finished_at=now, error_message=(
        "This preview did not finish: the worker computing it stopped, or its task was lost. Nothing was changed; "
        "ask for the preview again."))
