"""What a run records for its page and the dashboard: the pairs it linked (created or matched, not only link-only
changes), nothing decided when a guard refused the plan, and which end's answer stopped it (issue 15, items 7-8)."""


import pytest

from configurations.services import create_configuration
from sync.connectors.base import NeedsAttention, TransientError
from sync.engine import Guards, Side
from sync.models import RecordLink, SyncRun
from sync.queue import queue_run
from sync.runner import Clients, execute_run
from tests.sync.test_runner import FakeEnd
from users.services import add_sync_user, assign_users

pytestmark = pytest.mark.django_db


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
    return Clients(salesforce=FakeEnd(Side.SALESFORCE), exchange=FakeEnd(Side.OUTLOOK))


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
    getattr(ends, end).raise_on_side = TransientError("SERVER_UNAVAILABLE", "503")
    run = run_once(user, ends)
    assert run.state == SyncRun.State.FAILED
    assert SyncRun.objects.get(pk=run.pk).error_end == end


def test_an_end_asking_for_a_person_is_recorded_too_and_a_success_clears_it(user, ends):
    ends.exchange.raise_on_side = NeedsAttention("contacts_folder_missing", "The folder is gone.", "Recreate it.")
    assert run_once(user, ends).error_end == "exchange"
    ends.exchange.raise_on_side = None
    assert SyncRun.objects.get(pk=run_once(user, ends).pk).error_end == ""
