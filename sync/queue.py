"""The queue seam: a queued SyncRun row per job, and the one place that picks a Celery queue and sends.

The database, not the broker, is the record of what must run. Every message is sent for immediate delivery (no
countdown, no ETA): a delayed message lives in a worker's memory and in the broker, and both forget it when the
broker restarts. A run that must wait (its object was busy) waits as a row (`deferred_until`), and
`sync.recovery` sends again what is due, was never sent, or was lost.

The task is sent by its registered name, so this module needs neither the task module nor what it imports (the
runner and the dispatcher): the tasks point down to the work, and the work never points back up to the tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from celery import current_app
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from sync.models import SyncRun
from users.models import SyncState, SyncUser, UserObjectState

log = logging.getLogger(__name__)

SYNC_RUN_TASK = "sync.tasks.sync_run"
RUN_QUEUES = ("sync", "initial")


class QueueUnavailable(Exception):
    """The task broker cannot be reached: nothing can be sent to the workers now."""

    def __init__(self, message: str = "The task queue is unreachable, so nothing was queued. Try again in a "
                                      "minute; if it persists, check that Redis (the task broker) is running."):
        super().__init__(message)


def queue_run(
    user: SyncUser, object_type: str, trigger: str, *, actor=None, full: bool | None = None
) -> SyncRun:
    """A SyncRun row in `queued`: a first sync (or a reset) reads everything and matches; others are incremental."""
    state, _ = UserObjectState.objects.get_or_create(user=user, object=object_type)
    if full is None:
        full = trigger == SyncRun.Trigger.RESET or state.state == SyncState.NOT_STARTED or (
            state.salesforce_watermark is None and not state.exchange_sync_state
        )
    return SyncRun.objects.create(
        user=user, object=object_type, trigger=trigger, actor=actor, full=full
    )


def queue_for(run: SyncRun) -> str:
    """First syncs and resets go to `initial` so they never starve the incremental syncs on `sync`."""
    return "initial" if run.full else "sync"


def send_run(run: SyncRun, *, queue: str) -> None:
    """Publish one run's task for immediate delivery (tests replace this with the `enqueued` fixture)."""
    current_app.signature(SYNC_RUN_TASK, args=[run.pk]).apply_async(queue=queue, retry=False)


def enqueue_runs(runs: Iterable[SyncRun]) -> list[SyncRun]:
    """Send a task for each queued run and stamp the runs sent; answer the runs that could not be sent.

    Call it after the runs' transaction committed (`transaction.on_commit`). It never raises for an unreachable
    broker: what is not sent keeps `sent_at` empty and `sync.recovery` sends it once the broker is back."""
    runs = list(runs)
    sent: list[int] = []
    for position, run in enumerate(runs):
        try:
            send_run(run, queue=queue_for(run))
        except (BrokerError, OSError) as exc:
            log.warning("the task broker refused run %s (%s); %d run(s) left for recovery", run.pk, exc,
                        len(runs) - position)
            unsent = runs[position:]
            break
        sent.append(run.pk)
    else:
        unsent = []
    if sent:
        SyncRun.objects.filter(pk__in=sent).update(sent_at=timezone.now(), sends=F("sends") + 1,
                                                   deferred_until=None)
    return unsent


def broker_reachable(timeout: float = 2) -> tuple[bool, str]:
    """Whether the task broker answers now (one short attempt): (ok, the error's name when not)."""
    try:
        with current_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - whatever the transport raises means "unreachable"
        return False, type(exc).__name__
    return True, ""


def require_broker() -> None:
    """Raise QueueUnavailable unless the broker answers: callers check before they commit anything to send."""
    reachable, _ = broker_reachable()
    if not reachable:
        raise QueueUnavailable()


def waiting_messages(queues: Iterable[str] = RUN_QUEUES) -> dict[str, int]:
    """How many messages wait in each run queue of the broker (a passive declare: nothing is created)."""
    sizes = {}
    with current_app.connection_for_read() as connection:
        channel = connection.default_channel
        for name in queues:
            try:
                sizes[name] = channel.queue_declare(queue=name, passive=True).message_count
            except connection.channel_errors:
                sizes[name] = 0  # Redis drops an empty list's key: a queue with no message "does not exist"
    return sizes
