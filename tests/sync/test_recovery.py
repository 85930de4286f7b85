"""Runs that wait or whose message went missing are found in the database and sent again (issue 20, items 2 and 3).

The broker's own counts are replaced by `held`: what a broker restarted without its data, or a task that died at
the database, leaves behind is a queued row with fewer messages than rows."""

from datetime import timedelta

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from sync import queue, recovery
from sync.leases import SyncUnavailable
from sync.models import SyncRun
from sync.queue import enqueue_runs, queue_run
from sync.recovery import defer_run, recover_queue
from sync.tasks import sync_run
from users.models import SyncState, UserObjectState

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(monkeypatch):
    """The broker's message counts per run queue, as the test sets them (empty: a restarted broker)."""
    counts = {"sync": 0, "initial": 0}
    monkeypatch.setattr(recovery, "waiting_messages", lambda: dict(counts))
    return counts


def sent_run(user, object_type="contacts", *, ago: float, full=False, sends=1) -> SyncRun:
    run = queue_run(user, object_type, SyncRun.Trigger.SCHEDULE, full=full)
    at = timezone.now() - timedelta(seconds=ago)
    SyncRun.objects.filter(pk=run.pk).update(sent_at=at, sends=sends, created_at=at)
    run.refresh_from_db()
    return run


def test_a_run_whose_message_the_broker_lost_is_sent_again(contacts_user, enqueued, held, settings):
    settings.SYNC_QUEUED_RUN_RESEND_SECONDS = 120
    lost = sent_run(contacts_user, ago=300)
    recovered = recover_queue()
    assert recovered.lost == [lost.pk] and enqueued == [lost] and enqueued.queues == ["sync"]
    lost.refresh_from_db()
    assert lost.sends == 2 and timezone.now() - lost.sent_at < timedelta(seconds=5)


def test_a_run_sent_a_moment_ago_is_left_to_the_broker(contacts_user, enqueued, held):
    sent_run(contacts_user, ago=5)
    assert recover_queue().sent == 0 and enqueued == []


def test_runs_still_held_by_the_broker_are_not_sent_twice(contacts_user, enqueued, held):
    """A long queue is not a lost one: as many messages as waiting rows means nothing is missing."""
    for object_type in ("contacts", "events", "tasks"):
        sent_run(contacts_user, object_type, ago=600)
    held["sync"] = 3
    assert recover_queue().sent == 0


def test_the_oldest_sent_runs_are_the_lost_ones(contacts_user, enqueued, held):
    """First in, first out: when the broker is short of k messages, the k runs sent longest ago are gone."""
    oldest = sent_run(contacts_user, "contacts", ago=900)
    middle = sent_run(contacts_user, "events", ago=600)
    sent_run(contacts_user, "tasks", ago=300)
    held["sync"] = 1
    assert recover_queue().lost == [oldest.pk, middle.pk]


def test_each_queue_is_counted_on_its_own(contacts_user, enqueued, held):
    first_sync = sent_run(contacts_user, "contacts", ago=600, full=True)
    sent_run(contacts_user, "events", ago=600)
    held["sync"] = 1
    assert recover_queue().lost == [first_sync.pk] and enqueued.queues == ["initial"]


def test_a_run_lost_too_often_is_closed_with_a_sentence(contacts_user, enqueued, held, settings):
    settings.SYNC_RUN_MAX_SENDS = 3
    given_up = sent_run(contacts_user, ago=600, sends=3)
    assert recover_queue().closed == 1 and enqueued == []
    given_up.refresh_from_db()
    assert (given_up.state, given_up.error_code) == (SyncRun.State.FAILED, "never_started")
    assert "Check that the worker processes are running" in given_up.error_message


def test_a_run_never_sent_because_the_broker_was_down_is_sent_once_it_is_back(contacts_user, enqueued, held,
                                                                              monkeypatch):
    def broker_down(run, *, queue):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as down:
        down.setattr("sync.queue.send_run", broker_down)
        run = queue_run(contacts_user, "contacts", SyncRun.Trigger.SCHEDULE)
        assert enqueue_runs([run]) == [run]  # said, not raised: on_commit callbacks must not fail the request
    run.refresh_from_db()
    assert run.sent_at is None and run.sends == 0
    assert recover_queue().unsent == []  # a just-queued run is its own transaction's to send
    SyncRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(seconds=30))
    assert recover_queue().unsent == [run.pk] and enqueued == [run]


def test_a_run_that_finds_its_object_busy_waits_as_a_row_not_as_a_delayed_message(contacts_user, enqueued, held,
                                                                                   settings):
    settings.SYNC_BUSY_RETRY_SECONDS = 30
    run = sent_run(contacts_user, ago=1)
    state = UserObjectState.objects.get(user=contacts_user, object="contacts")
    UserObjectState.objects.filter(pk=state.pk).update(lease_owner="another-worker",
                                                       lease_expires_at=timezone.now() + timedelta(minutes=5))
    sync_run(run.pk)  # the task body, as a worker runs it
    run.refresh_from_db()
    assert run.state == SyncRun.State.QUEUED
    assert timedelta(seconds=25) < run.deferred_until - timezone.now() <= timedelta(seconds=30)
    assert recover_queue().sent == 0  # not yet due; and not counted as lost either
    SyncRun.objects.filter(pk=run.pk).update(deferred_until=timezone.now() - timedelta(seconds=1))
    assert recover_queue().deferred == [run.pk] and enqueued == [run]
    run.refresh_from_db()
    assert run.deferred_until is None and run.sends == 2


def test_a_run_deferred_too_often_gives_up_as_already_running(contacts_user, settings):
    settings.SYNC_RUN_MAX_SENDS = 2
    run = queue_run(contacts_user, "contacts", SyncRun.Trigger.SCHEDULE)
    SyncRun.objects.filter(pk=run.pk).update(sends=2)
    assert defer_run(run.pk, SyncUnavailable("ben is already syncing contacts")) is False
    run.refresh_from_db()
    assert (run.state, run.error_code) == (SyncRun.State.FAILED, "already_running")
    assert run.error_message.startswith("ben is already syncing contacts. ") is False
    assert "gave up; the next scheduled run will try again" in run.error_message


def test_a_message_that_comes_again_for_a_finished_run_does_nothing(contacts_user, enqueued, held):
    run = queue_run(contacts_user, "contacts", SyncRun.Trigger.SCHEDULE)
    SyncRun.objects.filter(pk=run.pk).update(state=SyncRun.State.SUCCEEDED, finished_at=timezone.now())
    sync_run(run.pk)
    run.refresh_from_db()
    assert run.state == SyncRun.State.SUCCEEDED and run.deferred_until is None


def test_a_run_whose_task_could_not_reach_the_database_stays_queued_for_recovery(contacts_user, enqueued, held,
                                                                                 monkeypatch):
    """Not acknowledged as done and forgotten: the row is still queued, its message gone, so recovery resends it."""
    from django.db import OperationalError

    run = sent_run(contacts_user, ago=300)

    def database_down(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 port 5432 failed: Connection refused")

    monkeypatch.setattr("sync.tasks.execute_run", database_down)
    sync_run(run.pk)
    run.refresh_from_db()
    assert run.state == SyncRun.State.QUEUED
    assert recover_queue().lost == [run.pk]


def test_a_run_cut_short_by_a_database_outage_says_so_instead_of_worker_lost(contacts_user, monkeypatch):
    from django.db import OperationalError

    from sync import runner

    run = queue_run(contacts_user, "contacts", SyncRun.Trigger.SCHEDULE)

    def outage(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(runner, "_sync", outage)
    monkeypatch.setattr("sync.tasks.DATABASE_RETRY_DELAYS", (0,))
    monkeypatch.setattr("sync.tasks.close_old_connections", lambda: None)  # the test's own transaction stays open
    sync_run(run.pk)
    run.refresh_from_db()
    state = UserObjectState.objects.get(user=contacts_user, object="contacts")
    assert (run.state, run.error_code) == (SyncRun.State.FAILED, "database_unavailable")
    assert "database became unreachable during this run" in run.error_message
    assert state.state == SyncState.ERROR and state.lease_owner == "" and state.next_due_at is not None


def test_a_run_started_again_after_its_worker_died_keeps_the_first_attempts_timing(contacts_user, monkeypatch):
    from sync import runner
    from sync.outcome import RunResult

    run = queue_run(contacts_user, "contacts", SyncRun.Trigger.SCHEDULE)
    first_start = timezone.now() - timedelta(minutes=7)
    SyncRun.objects.filter(pk=run.pk).update(state=SyncRun.State.RUNNING, started_at=first_start)
    monkeypatch.setattr(runner, "_sync", lambda job, guards, previous: runner.Ending(RunResult.SUCCEEDED))
    runner.execute_run(run.pk)
    run.refresh_from_db()
    assert run.attempts == [{"started_at": first_start.isoformat(), "ended": "worker_lost"}]
    assert run.started_at > first_start and run.state == SyncRun.State.SUCCEEDED


def test_the_broker_is_counted_without_creating_anything(db):
    """The embedded broker (a folder) answers the passive count the same way Redis does."""
    counts = queue.waiting_messages()
    assert set(counts) == {"sync", "initial"} and all(isinstance(n, int) for n in counts.values())
