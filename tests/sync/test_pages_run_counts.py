"""What a run records for its page and the dashboard: the pairs it linked (created or matched, not only link-only
changes), nothing decided when a guard refused the plan, and which end's answer stopped it (issue 15, items 7-8)."""

from datetime import UTC, datetime, timedelta

import pytest

from configurations.services import create_configuration
from sync.connectors.base import CallCounter, NeedsAttention, TransientError
from sync.engine import Guards, Side
from sync.engine.memory import MemorySide
from sync.models import RecordLink, SyncRun
from sync.queue import queue_run
from sync.runner import Clients, execute_run
from users.services import add_sync_user, assign_users

pytestmark = pytest.mark.django_db


class SalesforceClock:
    """Salesforce watermarks are SystemModstamps: the in-memory side's ticks as date-times."""

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


class End:
    """An end handing out in-memory sides; `fails` is raised when a side is asked for."""

    def __init__(self, side: Side):
        self.sides = {name: MemorySide(side, name) for name in ("contacts", "events", "tasks")}
        self.calls = CallCounter()
        self.fails: Exception | None = None

    def side(self, object_type, options, create_folder=True):
        self.calls.add("changes")
        if self.fails:
            raise self.fails
        side = self.sides[object_type]
        return SalesforceClock(side) if side.side is Side.SALESFORCE else side

    def permissions(self, object_type):
        return type("Permissions", (), {"read": True, "create": True, "edit": True, "delete": True})()

    def api_usage(self):
        return None


@pytest.fixture
def user():
    user = add_sync_user(
        {
            "salesforce_id": "005000000000077",
            "username": "cleo@example.com",
            "email": "cleo@example.com",
            "profile": "Standard User",
        }
    )
    configuration = create_configuration(
        {
            "name": "Pages",
            "sync_interval_minutes": 15,
            "data_settings": {"contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}},
        }
    )
    assign_users(configuration, [user.username])
    return user


@pytest.fixture
def ends():
    return Clients(salesforce=End(Side.SALESFORCE), exchange=End(Side.OUTLOOK))


def run_once(user, ends, **kwargs) -> SyncRun:
    return execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=ends, **kwargs)


def test_a_first_run_counts_every_pair_it_linked_created_or_matched(user, ends):
    ends.salesforce.sides["contacts"].add({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@x.org"})
    ends.salesforce.sides["contacts"].add({"first_name": "Alan", "last_name": "Turing", "email": "alan@x.org"})
    ends.exchange.sides["contacts"].add({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@x.org"})
    ends.exchange.sides["contacts"].add({"first_name": "Grace", "last_name": "Hopper", "email": "grace@x.org"})

    run = run_once(user, ends)

    assert run.state == SyncRun.State.SUCCEEDED, run.error_message
    assert run.counts["salesforce"] == {"create": 1} and run.counts["outlook"].get("create") == 1
    # Ada matched, Alan created in Outlook, Grace created in Salesforce: three pairs, as the link table says.
    assert RecordLink.objects.filter(user=user, object="contacts").count() == 3
    assert run.counts["links"] == 3 and run.counts["unlinked"] == 0
    assert SyncRun.objects.get(pk=run.pk).counts["links"] == 3

    again = run_once(user, ends)
    assert again.counts["links"] == 0  # nothing new to pair


def test_a_refused_plan_decided_no_conflict_and_linked_nothing(user, ends):
    for n in range(12):
        ends.salesforce.sides["contacts"].add({"first_name": f"P{n}", "last_name": "Q", "email": f"p{n}@x.org"})
    assert run_once(user, ends).counts["links"] == 12
    for record_id in list(ends.exchange.sides["contacts"].live()):
        ends.exchange.sides["contacts"].remove(record_id)
    # Every Outlook copy gone and every Salesforce record edited: a conflict per pair, were the plan applied.
    for record_id in list(ends.salesforce.sides["contacts"].live()):
        ends.salesforce.sides["contacts"].edit(record_id, title="Changed")

    refused = execute_run(
        queue_run(user, "contacts", SyncRun.Trigger.RESET, full=True).pk, clients=ends, guards=Guards()
    )

    assert refused.state == SyncRun.State.FAILED and refused.error_code.startswith("guard_")
    assert refused.counts["links"] == refused.counts["conflicts"] == refused.counts["unlinked"] == 0
    assert refused.error_end == ""  # our guard stopped it, not an end


@pytest.mark.parametrize("end", ["salesforce", "exchange"])
def test_a_run_stopped_by_an_end_records_which(user, ends, end):
    getattr(ends, end).fails = TransientError("SERVER_UNAVAILABLE", "503")
    run = run_once(user, ends)
    assert run.state == SyncRun.State.FAILED
    assert SyncRun.objects.get(pk=run.pk).error_end == end


def test_an_end_asking_for_a_person_is_recorded_too_and_a_success_clears_it(user, ends):
    ends.exchange.fails = NeedsAttention("contacts_folder_missing", "The folder is gone.", "Recreate it.")
    assert run_once(user, ends).error_end == "exchange"
    ends.exchange.fails = None
    assert SyncRun.objects.get(pk=run_once(user, ends).pk).error_end == ""
