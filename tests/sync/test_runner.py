"""sync.runner.execute_run wires engine, link table, watermarks and SyncRun together (ends replaced by in-memory
sides)."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from configurations.services import create_configuration, update_configuration
from sync.connectors.base import CallCounter, NeedsAttention, TransientError
from sync.engine import Side
from sync.engine.memory import MemorySide
from sync.leases import SyncUnavailable, claim
from sync.models import RecordError, RecordLink, SyncRun
from sync.queue import queue_run
from sync.runner import Clients, execute_run, reset_links
from users.models import SyncState, UserObjectState
from users.services import add_sync_user, assign_users, unassign_users

pytestmark = pytest.mark.django_db


@dataclass
class Permissions:
    read: bool = True
    create: bool = True
    edit: bool = True
    delete: bool = True


class SalesforceClock:
    """Salesforce watermarks are SystemModstamps: present the in-memory side's ticks as date-times."""

    EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

    def __init__(self, side: MemorySide):
        self.inner = side

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def changes(self, watermark):
        tick = None if watermark is None else str(int((datetime.fromisoformat(watermark) - self.EPOCH).total_seconds()))
        change_set = self.inner.changes(tick)
        if change_set.watermark is not None:
            change_set.watermark = (self.EPOCH + timedelta(seconds=int(change_set.watermark))).isoformat()
        return change_set


class FakeEnd:
    """Stands in for a connector's client: hands out one in-memory side per object, counts calls."""

    def __init__(self, side: Side, permissions: Permissions | None = None):
        self.sides = {name: MemorySide(side, name) for name in ("contacts", "events", "tasks")}
        self.calls = CallCounter()
        self._permissions = permissions or Permissions()
        self.raise_on_side: Exception | None = None

    def side(self, object_type, options, create_folder=True):
        self.calls.add("changes")
        if self.raise_on_side:
            raise self.raise_on_side
        side = self.sides[object_type]
        return SalesforceClock(side) if side.side is Side.SALESFORCE else side

    def permissions(self, object_type):
        return self._permissions

    def api_usage(self):
        return (1234, 15000) if self.sides["contacts"].side is Side.SALESFORCE else None


@pytest.fixture
def user():
    user = add_sync_user({"salesforce_id": "005000000000001", "username": "ben@example.com",
                          "email": "ben@example.com", "profile": "Standard User"})
    configuration = create_configuration({
        "name": "Sales", "sync_interval_minutes": 15,
        "data_settings": {"contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}},
    })
    assign_users(configuration, [user.username])
    return user


@pytest.fixture
def ends():
    return Clients(salesforce=FakeEnd(Side.SALESFORCE), exchange=FakeEnd(Side.OUTLOOK))


def state_of(user, object_type="contacts"):
    return UserObjectState.objects.get(user=user, object=object_type)


def test_first_sync_links_and_reports(user, ends):
    ends.salesforce.sides["contacts"].add({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@x.org"})
    ends.exchange.sides["contacts"].add({"first_name": "Ada", "last_name": "Lovelace", "email": "ADA@x.org"})
    ends.exchange.sides["contacts"].add({"first_name": "Grace", "last_name": "Hopper"})
    run = queue_run(user, "contacts", SyncRun.Trigger.COMMAND)
    assert run.full and run.state == SyncRun.State.QUEUED

    seen = []
    run = execute_run(run.pk, clients=ends, on_progress=lambda done, total: seen.append((done, total)))
    assert run.state == SyncRun.State.SUCCEEDED, run.error_message
    assert run.counts["salesforce"] == {"create": 1}
    assert seen[0] == (0, 1) and seen[-1][0] == seen[-1][1] >= 1  # planned, then every write counted
    stored = SyncRun.objects.get(pk=run.pk)
    assert stored.progress_done == stored.progress_total == seen[-1][0]
    assert run.api_calls == {"salesforce": 1, "exchange": 1}
    assert (run.salesforce_api_used, run.salesforce_api_allocation) == (1234, 15000)
    assert RecordLink.objects.filter(user=user, object="contacts").count() == 2
    state = state_of(user)
    assert state.state == SyncState.IN_SYNC and state.last_success_at and state.next_due_at
    assert state.lease_owner == ""

    second = execute_run(queue_run(user, "contacts", SyncRun.Trigger.SCHEDULE).pk, clients=ends)
    assert not second.full and second.counts["salesforce"] == {} and second.counts["outlook"] == {}


def test_record_failure_is_recorded_and_retried(user, ends):
    for n in range(3):
        ends.salesforce.sides["contacts"].add({"first_name": f"P{n}", "last_name": "Person"})
    ends.exchange.sides["contacts"].fail_next(1, code="ErrorQuotaExceeded", transient=False)
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=ends)
    assert run.state == SyncRun.State.SUCCEEDED  # the run completed; one record failed
    error = RecordError.objects.get(run=run)
    assert error.code == "ErrorQuotaExceeded" and error.side == "outlook"
    assert state_of(user).state == SyncState.ERROR
    assert len(ends.exchange.sides["contacts"].live()) == 2

    retry = execute_run(queue_run(user, "contacts", SyncRun.Trigger.SCHEDULE).pk, clients=ends)
    assert retry.counts["outlook"] == {"create": 1}
    assert state_of(user).state == SyncState.IN_SYNC and len(ends.exchange.sides["contacts"].live()) == 3


def test_transient_failure_backs_off(user, ends):
    ends.salesforce.raise_on_side = TransientError("SERVER_UNAVAILABLE", "503 from Salesforce", retry_after=600)
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=ends)
    assert run.state == SyncRun.State.FAILED and run.error_code == "SERVER_UNAVAILABLE"
    state = state_of(user)
    assert state.state == SyncState.ERROR and state.consecutive_failures == 1
    assert (state.next_due_at - run.finished_at).total_seconds() >= 600


def test_needs_attention_is_not_rescheduled(user, ends):
    ends.exchange.raise_on_side = NeedsAttention("contacts_folder_missing", "The folder is gone.", "Recreate it.")
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=ends)
    state = state_of(user)
    assert run.state == SyncRun.State.FAILED
    assert state.state == SyncState.NEEDS_ATTENTION and state.next_due_at is None
    assert state.last_error_message == "The folder is gone. Recreate it."


def test_missing_permission_needs_attention_before_any_write(user):
    ends = Clients(salesforce=FakeEnd(Side.SALESFORCE, Permissions(create=False)), exchange=FakeEnd(Side.OUTLOOK))
    ends.exchange.sides["contacts"].add({"first_name": "Grace", "last_name": "Hopper"})
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=ends)
    assert run.error_code == "salesforce_permission_missing" and "create" in run.error_message
    assert ends.salesforce.sides["contacts"].live() == {}


def test_unassigned_user_is_disabled(user, ends):
    user.refresh_from_db()
    unassign_users(user.configuration, [user.username])
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=ends)
    assert run.state == SyncRun.State.SUCCEEDED and run.error_code == "not_assigned"
    assert state_of(user).state == SyncState.DISABLED


def test_object_not_synced_by_configuration(user, ends):
    run = execute_run(queue_run(user, "tasks", SyncRun.Trigger.COMMAND).pk, clients=ends)
    assert run.error_code == "object_not_synced" and state_of(user, "tasks").state == SyncState.DISABLED


def test_a_running_user_is_not_run_twice(user, ends):
    assert claim(state_of(user), "someone-else")
    run = queue_run(user, "contacts", SyncRun.Trigger.MANUAL)
    with pytest.raises(SyncUnavailable):
        execute_run(run.pk, clients=ends)
    assert SyncRun.objects.get(pk=run.pk).state == SyncRun.State.QUEUED


def test_reset_relinks_without_creating(user, ends):
    sf, ol = ends.salesforce.sides["contacts"], ends.exchange.sides["contacts"]
    for n in range(4):
        sf.add({"first_name": f"P{n}", "last_name": "Person", "email": f"p{n}@x.org"})
    execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=ends)
    reset_links(user, ["contacts"])
    assert RecordLink.objects.filter(user=user).count() == 0
    assert state_of(user).salesforce_watermark is None
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.RESET).pk, clients=ends)
    assert run.full and run.counts["salesforce"] == {} and run.counts["outlook"] == {}
    assert RecordLink.objects.filter(user=user).count() == 4 and len(ol.live()) == 4


def test_the_next_run_marks_a_killed_workers_run_failed(user, ends):
    ghost = queue_run(user, "contacts", SyncRun.Trigger.SCHEDULE)
    SyncRun.objects.filter(pk=ghost.pk).update(state=SyncRun.State.RUNNING)  # its worker was SIGKILLed
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.SCHEDULE).pk, clients=ends)
    assert run.state == SyncRun.State.SUCCEEDED
    ghost.refresh_from_db()
    assert (ghost.state, ghost.error_code) == (SyncRun.State.FAILED, "worker_lost") and ghost.finished_at


def test_a_changed_data_setting_makes_the_next_run_read_everything(user, ends):
    execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=ends)
    same = execute_run(queue_run(user, "contacts", SyncRun.Trigger.SCHEDULE).pk, clients=ends)
    assert not same.full
    user.refresh_from_db()
    update_configuration(user.configuration, {"data_sets": {"contacts": {"scope": "all_visible"}}})
    changed = execute_run(queue_run(user, "contacts", SyncRun.Trigger.SCHEDULE).pk, clients=ends)
    assert changed.full and changed.state == SyncRun.State.SUCCEEDED
    again = execute_run(queue_run(user, "contacts", SyncRun.Trigger.SCHEDULE).pk, clients=ends)
    assert not again.full


@pytest.mark.parametrize("code", ["meeting_not_updated", "meeting_not_deleted", "stamp_unresolved"])
def test_policy_codes_are_recorded_but_leave_the_object_in_sync(user, ends, code):
    """The engine's one list of policy codes decides: Graph's meeting refusals are not failures."""
    ends.salesforce.sides["contacts"].add({"first_name": "Ada", "last_name": "Lovelace"})
    ends.exchange.sides["contacts"].fail_next(1, code=code, transient=False)
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=ends)
    assert RecordError.objects.get(run=run).code == code
    assert (run.state, run.error_code) == (SyncRun.State.SUCCEEDED, "")
    assert state_of(user).state == SyncState.IN_SYNC


def test_backoff_doubles_per_failure_and_a_success_ends_the_streak(user, ends, settings):
    settings.SYNC_BACKOFF_BASE_SECONDS, settings.SYNC_BACKOFF_CAP_SECONDS = 60, 150
    ends.salesforce.raise_on_side = TransientError("SERVER_UNAVAILABLE", "503 from Salesforce")
    delays = []
    for _ in range(3):
        run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.SCHEDULE).pk, clients=ends)
        delays.append(round((state_of(user).next_due_at - run.finished_at).total_seconds()))
    assert delays == [60, 120, 150] and state_of(user).consecutive_failures == 3
    ends.salesforce.raise_on_side = None
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.SCHEDULE).pk, clients=ends)
    state = state_of(user)
    assert (state.state, state.consecutive_failures, state.last_error_code) == (SyncState.IN_SYNC, 0, "")
    assert state.last_success_at == run.finished_at
    # The interval, plus a random share of the dispatch jitter that spreads users apart.
    spread = (state.next_due_at - run.finished_at).total_seconds() - 15 * 60
    assert 0 <= spread <= settings.SYNC_DISPATCH_JITTER_SECONDS
