"""A hybrid organisation: one user's mailbox on-premises (EWS), another's in Exchange Online (Graph), synced by
the same workers in the same dispatch; then the on-premises mailbox moves online."""

import pytest

from configurations.services import create_configuration
from sync.models import RecordLink, SyncRun
from sync.routing import mailbox_route
from tests.e2e.outlook import GraphOutlook
from tests.processes import celery_worker, wait_for
from users.models import SyncState, UserObjectState
from users.operations import sync_now
from users.services import assign_users, set_exchange_route

pytestmark = [pytest.mark.e2e]


def settled(people) -> bool:
    states = UserObjectState.objects.filter(user__in=[p.sync_user for p in people], object="contacts")
    return all(s.state in (SyncState.IN_SYNC, SyncState.ERROR, SyncState.NEEDS_ATTENTION) for s in states)


def test_one_on_premises_and_one_online_user_in_one_run(live_world, tmp_path):
    on_premises = live_world.person(protocol="ews")
    online = live_world.person(protocol="graph")
    people = (on_premises, online)
    assert [mailbox_route(p.sync_user).protocol for p in people] == ["ews", "graph"]
    configuration = create_configuration({
        "name": "Hybrid", "data_settings": {"contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}},
        "data_sets": {"contacts": {"scope": "my_contacts"}}})
    assign_users(configuration, [p.username for p in people])
    for person in people:
        person.salesforce.Contact.create({"FirstName": "Owned", "LastName": f"By {person.username}"})
        person.outlook.create_contact("From", f"Outlook {person.outlook.protocol}")

    with celery_worker("sync,initial,default", concurrency=2, log_path=tmp_path / "worker.log"):
        try:
            runs = [run for person in people for run in sync_now(person.sync_user, ["contacts"])]
            wait_for(lambda: all(SyncRun.objects.get(pk=r.pk).state in ("succeeded", "failed") for r in runs), 90,
                     message="both runs")
        except AssertionError:
            print((tmp_path / "worker.log").read_text()[-5000:])
            raise
    assert [SyncRun.objects.get(pk=r.pk).state for r in runs] == ["succeeded", "succeeded"]
    for person in people:
        outlook = sorted(f"{c['given_name']} {c['surname']}" for c in person.outlook.contacts())
        salesforce = sorted(f"{r['FirstName']} {r['LastName']}"
                            for r in person.salesforce.query_all("SELECT FirstName, LastName FROM Contact")["records"])
        assert outlook == salesforce == sorted([f"From Outlook {person.outlook.protocol}",
                                                f"Owned By {person.username}"])
    # Each run talked to the end that serves its mailbox.
    on_premises_run, online_run = (SyncRun.objects.get(pk=r.pk) for r in runs)
    assert on_premises_run.api_calls["exchange"] > 0 and online_run.api_calls["exchange"] > 0
    assert (on_premises_run.exchange_protocol, online_run.exchange_protocol) == ("ews", "graph")
    assert UserObjectState.objects.get(user=online.sync_user, object="contacts").exchange_protocol == "graph"
    assert UserObjectState.objects.get(user=on_premises.sync_user, object="contacts").exchange_protocol == "ews"


def test_a_mailbox_moved_online_is_relinked_in_full_on_its_next_sync(live_world, tmp_path):
    """In the sandbox the two emulators are separate servers, so a moved mailbox arrives empty online: the next
    sync reads both ends in full and fills it from Salesforce, without touching Salesforce."""
    from django.core.management import call_command

    person = live_world.person(protocol="ews")
    live_world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    person.salesforce.Contact.create({"FirstName": "Kept", "LastName": "Contact"})
    call_command("sync_user", person.username, "--objects", "contacts")
    assert [c["given_name"] for c in person.outlook.contacts()] == ["Kept"]
    old_links = set(RecordLink.objects.filter(user=person.sync_user).values_list("outlook_id", flat=True))

    set_exchange_route(person.sync_user, "graph")
    call_command("sync_user", person.username, "--objects", "contacts")
    run = SyncRun.objects.filter(user=person.sync_user, object="contacts").latest("pk")
    assert run.full and run.state == "succeeded" and run.counts["salesforce"] == {}
    online = GraphOutlook(live_world.sandbox.graph_url, live_world.graph_app, person.username,
                          str(live_world.sandbox.ca_path))
    assert [c["given_name"] for c in online.contacts()] == ["Kept"]
    new_links = set(RecordLink.objects.filter(user=person.sync_user).values_list("outlook_id", flat=True))
    assert len(new_links) == 1 and not new_links & old_links
    assert len(person.salesforce.query_all("SELECT Id FROM Contact")["records"]) == 1
