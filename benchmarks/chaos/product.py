"""What the chaos run asks the product's database, read-only: when a user's object last synced cleanly, whether it
is quiet, and the states and runs at the end. Every question survives the database being down (the run stops
PostgreSQL on purpose): it answers `None` and the caller stays on the safe side.

Imported only after django.setup().
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from django.db import Error as DatabaseError
from django.db import connection
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from sync.engine.apply import INFORMATIONAL_CODES
from sync.models import RecordError, SyncRun
from users.models import SyncState, UserObjectState


def guarded(question, default=None):
    """Ask the database; when it is unreachable (or the connection broke in an outage), close this thread's
    connection so that the next question opens a fresh one, and answer `default`."""
    try:
        return question()
    except DatabaseError:
        connection.close()
        return default


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _clean_runs(user_id: int, object_type: str):
    """Succeeded runs without a record error (the informational codes aside): everything they read, they wrote."""
    errors = RecordError.objects.filter(run=OuterRef("pk")).exclude(code__in=INFORMATIONAL_CODES)
    return SyncRun.objects.filter(user_id=user_id, object=object_type, state=SyncRun.State.SUCCEEDED) \
        .filter(~Exists(errors))


def last_clean_start(user_id: int, object_type: str) -> float | None:
    """When the newest clean run of the user's object started (epoch seconds): every edit made before it has
    been read by it and propagated."""
    def ask():
        started = _clean_runs(user_id, object_type).aggregate(last=Max("started_at"))["last"]
        return started.timestamp() if started else None
    return guarded(ask)


def quiet(user_id: int, object_type: str, margin_seconds: float) -> bool:
    """No run of the user's object is queued or running, none is due within `margin_seconds`, and it is in sync:
    edits made on both ends now fall into one and the same next run (a conflict)."""
    def ask():
        state = UserObjectState.objects.get(user_id=user_id, object=object_type)
        if state.state != SyncState.IN_SYNC or state.lease_owner or state.next_due_at is None:
            return False
        if state.next_due_at < timezone.now() + timedelta(seconds=margin_seconds):
            return False
        return not SyncRun.objects.filter(user_id=user_id, object=object_type, state__in=[
            SyncRun.State.QUEUED, SyncRun.State.RUNNING]).exists()
    return bool(guarded(ask, False))


def object_state(user_id: int, object_type: str) -> UserObjectState | None:
    return guarded(lambda: UserObjectState.objects.get(user_id=user_id, object=object_type))


def busy_runs() -> int | None:
    return guarded(lambda: SyncRun.objects.filter(state__in=[SyncRun.State.QUEUED, SyncRun.State.RUNNING]).count())


def states(user_ids: list[int]) -> list[UserObjectState]:
    return guarded(lambda: list(UserObjectState.objects.filter(user_id__in=user_ids).select_related("user")), [])


def clean_since(user_id: int, object_type: str, epoch: float) -> bool:
    return bool(guarded(lambda: _clean_runs(user_id, object_type).filter(started_at__gt=_moment(epoch)).exists(),
                        False))


def stale_runs(older_than_seconds: float) -> list[SyncRun]:
    """Runs still queued or running that were created longer ago than that."""
    limit = timezone.now() - timedelta(seconds=older_than_seconds)
    return guarded(lambda: list(SyncRun.objects.filter(
        state__in=[SyncRun.State.QUEUED, SyncRun.State.RUNNING], created_at__lt=limit).select_related("user")), [])


def run_summary() -> dict:
    """Runs by state and the failed ones by error code, over the whole chaos run."""
    def ask():
        by_state = Counter(SyncRun.objects.values_list("state", flat=True))
        failed = Counter(SyncRun.objects.filter(state=SyncRun.State.FAILED).values_list("error_code", flat=True))
        record_errors = Counter(RecordError.objects.values_list("code", flat=True))
        return {"runs": dict(by_state), "failed_by_code": dict(failed.most_common()),
                "record_errors_by_code": dict(record_errors.most_common())}
    return guarded(ask, {})


def runs_around(user_id: int, object_type: str, start_epoch: float, limit: int = 6) -> list[dict]:
    """The runs of a user's object from a moment on, for a problem's details."""
    def ask():
        runs = SyncRun.objects.filter(user_id=user_id, object=object_type,
                                      created_at__gte=_moment(start_epoch - 90)).order_by("created_at")[:limit]
        return [{"run": run.pk, "state": run.state, "trigger": run.trigger, "full": run.full,
                 "started": run.started_at.strftime("%H:%M:%S") if run.started_at else None,
                 "finished": run.finished_at.strftime("%H:%M:%S") if run.finished_at else None,
                 "error": run.error_code or None, "counts": run.counts,
                 "record_errors": list(run.record_errors.values_list("code", flat=True)[:3])} for run in runs]
    return guarded(ask, [])
