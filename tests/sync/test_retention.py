"""Finished runs and previews are kept for SYNC_RUN_RETENTION_DAYS, then pruned by the daily beat task."""

from datetime import timedelta

import pytest
from django.utils import timezone

from sync.models import Preview, RecordError, SyncRun
from sync.retention import prune_history
from sync.tasks import prune_history as prune_task
from syncadmin.celery import app
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def run(user, state, days_ago):
    created = SyncRun.objects.create(user=user, object="contacts", trigger="schedule", state=state)
    SyncRun.objects.filter(pk=created.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    return created


def test_old_finished_runs_go_with_their_record_errors_and_the_rest_stay(settings):
    settings.SYNC_RUN_RETENTION_DAYS = 30
    settings.SYNC_FAILED_RUN_RETENTION_DAYS = 90
    user = make_user()
    old = [run(user, SyncRun.State.SUCCEEDED, 31), run(user, SyncRun.State.FAILED, 91),
           run(user, SyncRun.State.SUCCEEDED, 95)]
    RecordError.objects.create(run=old[2], side="salesforce", record_id="003x", code="X", message="m")
    recent = run(user, SyncRun.State.SUCCEEDED, 29)
    stuck = run(user, SyncRun.State.QUEUED, 40)  # not finished: recovery's business, never pruned here
    # Failures are kept for SYNC_FAILED_RUN_RETENTION_DAYS: a failed run, and a run with a record error.
    failed = run(user, SyncRun.State.FAILED, 45)
    with_errors = run(user, SyncRun.State.SUCCEEDED, 60)
    RecordError.objects.create(run=with_errors, side="outlook", record_id="AAA", code="X", message="m")
    old_preview = Preview.objects.create(kind=Preview.Kind.DRY_RUN, user=user, state=Preview.State.DONE)
    Preview.objects.filter(pk=old_preview.pk).update(created_at=timezone.now() - timedelta(days=31))

    pruned = prune_history()

    assert (pruned.runs, pruned.previews) == (3, 1)
    assert set(SyncRun.objects.values_list("pk", flat=True)) == {recent.pk, stuck.pk, failed.pk, with_errors.pk}
    assert list(RecordError.objects.values_list("run_id", flat=True)) == [with_errors.pk]
    assert not Preview.objects.exists()
    assert prune_task() == 0  # nothing left to prune


def test_the_beat_prunes_once_a_day():
    entry = app.conf.beat_schedule["prune-history"]
    assert entry["task"] == "sync.tasks.prune_history" and entry["schedule"] == 24 * 3600.0


def test_a_preview_whose_worker_died_ends_with_a_sentence():
    from sync.recovery import close_stalled_previews

    user = make_user()
    stalled = Preview.objects.create(kind=Preview.Kind.DRY_RUN, user=user, state=Preview.State.RUNNING)
    Preview.objects.filter(pk=stalled.pk).update(created_at=timezone.now() - timedelta(minutes=31))
    fresh = Preview.objects.create(kind=Preview.Kind.DRY_RUN, user=user, state=Preview.State.RUNNING)

    assert close_stalled_previews() == 1
    stalled.refresh_from_db()
    fresh.refresh_from_db()
    assert stalled.state == Preview.State.FAILED and "ask for the preview again" in stalled.error_message
    assert fresh.state == Preview.State.RUNNING
