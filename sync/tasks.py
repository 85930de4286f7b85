"""Celery tasks: thin, idempotent, passed ids; the work is in sync.runner and sync.dispatch.

Runs are sent by name through sync.queue, so nothing below this module imports it."""

import logging

from celery import shared_task

from sync.dispatch import dispatch_due
from sync.leases import SyncUnavailable
from sync.models import SyncRun
from sync.runner import execute_run, give_up

log = logging.getLogger(__name__)

BUSY_RETRY_SECONDS = 30
BUSY_MAX_RETRIES = 20


@shared_task(ignore_result=True)
def dispatch_due_syncs() -> int:
    """Beat, every ~30 s: queue a run for every due user and object."""
    return dispatch_due().count


@shared_task(bind=True, ignore_result=True, max_retries=BUSY_MAX_RETRIES)
def sync_run(self, run_id: int) -> None:
    """Run one queued SyncRun. Exits quietly if the run is gone or already ended (a redelivered message)."""
    try:
        execute_run(run_id)
    except SyncRun.DoesNotExist:
        log.info("sync run %s no longer exists", run_id)
    except SyncUnavailable as exc:
        # Another run of the same user and object holds the lease (or a killed worker's lease has not expired).
        if self.request.retries < self.max_retries:
            raise self.retry(countdown=BUSY_RETRY_SECONDS) from exc
        give_up(run_id, exc)
