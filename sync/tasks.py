"""Celery tasks: thin, idempotent, passed ids; the work is in sync.runner, sync.dispatch and sync.recovery.

Runs are sent by name through sync.queue, so nothing below this module imports it. No task here ever asks the
broker to hold a message for later (no `retry(countdown=…)`): a run that must wait waits as a row
(sync.recovery.defer_run), and recovery sends it again."""

import logging
import time

from celery import shared_task
from django.db import close_old_connections

from sync.dispatch import dispatch_due
from sync.feeds.coverage import watch_feeds
from sync.feeds.graph import apply_lifecycle, ensure_subscriptions
from sync.leases import SyncUnavailable
from sync.models import SyncRun
from sync.previews import compute_preview as compute
from sync.recovery import close_stalled_previews, defer_run, recover_queue
from sync.retention import prune_history as prune
from sync.runner import DATABASE_OUTAGE, RunInterrupted, close_interrupted, execute_run

log = logging.getLogger(__name__)

# After a database outage cut a run short: how long the worker keeps trying to say so on the run.
DATABASE_RETRY_DELAYS = (1, 2, 4, 8, 15)


@shared_task(ignore_result=True)
def dispatch_due_syncs() -> int:
    """Beat, every ~30 s: send again the runs that wait or were lost, then queue a run for every due object."""
    recovered = recover_queue()
    if recovered.sent or recovered.closed:
        log.info("recovery sent %d run(s) again (%d deferred, %d never sent, %d lost) and closed %d",
                 recovered.sent, len(recovered.deferred), len(recovered.unsent), len(recovered.lost),
                 recovered.closed)
    if stalled := close_stalled_previews():
        log.info("closed %d preview(s) whose worker stopped or whose task was lost", stalled)
    if stopped := watch_feeds():
        log.warning("change feed(s) stopped: %s; their objects were marked for a catch-up run and poll at their "
                    "configuration's interval until the feeds are back", ", ".join(stopped))
    return dispatch_due().count


@shared_task(ignore_result=True)
def prune_history() -> int:
    """Beat, daily: delete the finished runs and previews past SYNC_RUN_RETENTION_DAYS."""
    pruned = prune()
    if pruned.runs or pruned.previews:
        log.info("pruned %d run(s) and %d preview(s) past the retention window", pruned.runs, pruned.previews)
    return pruned.runs


@shared_task(ignore_result=True)
def ensure_graph_subscriptions() -> int:
    """Beat, every 15 minutes: Graph change notification subscriptions created, renewed and deleted as needed."""
    return ensure_subscriptions().created


@shared_task(ignore_result=True)
def graph_subscription_lifecycle(subscription_id: int, action: str) -> None:
    """A Graph lifecycle notification's work (reauthorize, or create the subscription anew), off the endpoint."""
    log.info("Graph subscription row %s: %s", subscription_id, apply_lifecycle(subscription_id, action))


@shared_task(ignore_result=True)
def sync_run(run_id: int) -> None:
    """Run one queued SyncRun. Exits quietly if the run is gone or already ended (a message sent twice)."""
    try:
        execute_run(run_id)
    except SyncRun.DoesNotExist:
        log.info("sync run %s no longer exists", run_id)
    except SyncUnavailable as exc:
        # Another run of the same user and object holds the lease (or a killed worker's lease has not expired).
        defer_run(run_id, exc)
    except RunInterrupted as interrupted:
        # The database went away mid-run: say so on the run once it answers, rather than let the run pass later
        # for one whose worker was lost.
        log.warning("%s; closing it once the database answers", interrupted)
        _close_when_possible(interrupted)
    except DATABASE_OUTAGE as exc:
        # Before the run started: it stays queued and recovery sends it again once the database is back.
        log.warning("sync run %s could not start: the database is unreachable (%s)", run_id, exc)


@shared_task(ignore_result=True)
def compute_preview(preview_id: int) -> None:
    """Compute a queued dry run or impact preview (sync.previews); it only reads the ends. Exits quietly if the
    preview is gone or already computed (a message sent twice)."""
    compute(preview_id)


def _close_when_possible(interrupted: RunInterrupted) -> None:
    for delay in DATABASE_RETRY_DELAYS:
        time.sleep(delay)
        close_old_connections()
        try:
            close_interrupted(interrupted)
            return
        except DATABASE_OUTAGE:
            continue
    log.error("%s and the database stayed unreachable; the next run of the object will close it", interrupted)
