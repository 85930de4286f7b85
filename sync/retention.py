"""How long finished runs and previews are kept: the run history (and each run's record errors) for
`SYNC_RUN_RETENTION_DAYS`, failures (failed runs, and runs with record errors) for `SYNC_FAILED_RUN_RETENTION_DAYS`
(support staff look back further at what went wrong), pruned once a day in batches so that the tables do not grow
with every run forever (a thousand users synced every ten minutes make over 400,000 runs a day). The dashboard's
trends need 14 days, so neither setting can go below 15. The audit trail is not pruned here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from sync.models import Preview, RecordError, SyncRun

BATCH = 2000
MAX_BATCHES = 50  # per call: at most 100,000 runs a day; a bigger backlog is pruned over the next days


@dataclass
class Pruned:
    runs: int = 0
    previews: int = 0


def prune_history(now: datetime | None = None) -> Pruned:
    """Delete the finished runs (failures after their longer window) and previews created before the retention
    window, oldest first, in batches."""
    now = now or timezone.now()
    limit = now - timedelta(days=settings.SYNC_RUN_RETENTION_DAYS)
    failures_limit = now - timedelta(days=max(settings.SYNC_FAILED_RUN_RETENTION_DAYS,
                                              settings.SYNC_RUN_RETENTION_DAYS))
    failure = Q(state=SyncRun.State.FAILED) | Q(Exists(RecordError.objects.filter(run=OuterRef("pk"))))
    expired = Q(created_at__lt=failures_limit) | (Q(created_at__lt=limit) & ~failure)
    pruned = Pruned()
    for _ in range(MAX_BATCHES):
        old = list(SyncRun.objects.filter(expired, state__in=SyncRun.TERMINAL_STATES)
                   .order_by("pk").values_list("pk", flat=True)[:BATCH])
        if not old:
            break
        SyncRun.objects.filter(pk__in=old).delete()  # their record errors go with them (cascade)
        pruned.runs += len(old)
    finished = [Preview.State.DONE, Preview.State.FAILED]
    pruned.previews = Preview.objects.filter(created_at__lt=limit, state__in=finished).delete()[0]
    return pruned
