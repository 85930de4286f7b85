"""The queue seam: a queued SyncRun row per job, and the one place that picks a Celery queue and sends.

The task is sent by its registered name, so this module needs neither the task module nor what it imports (the
runner and the dispatcher): the tasks point down to the work, and the work never points back up to the tasks.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from celery import current_app

from sync.models import SyncRun
from users.models import SyncState, SyncUser, UserObjectState

SYNC_RUN_TASK = "sync.tasks.sync_run"


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


def send_run(run: SyncRun, *, queue: str, countdown: float = 0) -> None:
    """Publish one run's task (tests replace this with the `enqueued` fixture)."""
    options = {"queue": queue}
    if countdown:
        options["countdown"] = countdown
    current_app.signature(SYNC_RUN_TASK, args=[run.pk]).apply_async(**options)


def enqueue_runs(runs: Iterable[SyncRun], *, jitter: float = 0) -> None:
    """Send a task for each queued run; call it after the runs' transaction committed (`transaction.on_commit`).

    `jitter` (seconds) delays each task by a random share of it, so a dispatch of many runs does not reach the
    ends all at once."""
    for run in runs:
        send_run(run, queue=queue_for(run), countdown=random.uniform(0, jitter) if jitter else 0)
