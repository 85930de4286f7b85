"""Celery tasks: thin, idempotent, passed ids; the work is in sync.services and sync.dispatch."""

import logging

from celery import shared_task
from django.utils import timezone

from sync.dispatch import dispatch_due
from sync.models import SyncRun
from sync.services import SyncUnavailable, execute_run

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
        SyncRun.objects.filter(pk=run_id, state=SyncRun.State.QUEUED).update(
            state=SyncRun.State.FAILED, finished_at=timezone.now(), error_code="already_running",
            error_message=str(exc),
        )
