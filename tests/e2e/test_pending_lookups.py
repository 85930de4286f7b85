"""A run that dies after creating many records and before committing their links is recovered by the next run
with no duplicate and a few lookups (one batch per side: sync/engine/pending.py), on EWS and on Graph.

Before the lookups were batched, recovering 60 pending creates cost 60 Salesforce queries, or 120 EWS calls (a
FindItem and a GetItem per record), or 60 Graph requests."""

import pytest

from sync import linkstore
from sync.models import SyncRun
from tests.e2e.test_sync_faults import Killed, both_sides, outlook_contacts
from tests.e2e.test_sync_user import last_run, sf_rows, sync
from users.models import UserObjectState

pytestmark = pytest.mark.e2e

N = 60


@pytest.fixture
def person(either_world):
    person = either_world.person()
    either_world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    return person


def salesforce_contacts(person, count: int, prefix: str = "Sf") -> None:
    person.salesforce.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Contact"}, "FirstName": f"{prefix}{n}", "LastName": "Look"} for n in range(count)]})


def crash_after_the_remote_creates(person, monkeypatch) -> None:
    """The first sync dies after its remote creates, before the links that resolve them are committed."""
    real_commit = linkstore.DjangoLinkStore.commit
    calls = {"n": 0}

    def crash_on_resolving_commit(self, puts, removals):
        calls["n"] += 1
        if calls["n"] == 2:  # the first commit: the pending links; the second: resolving them
            raise Killed
        return real_commit(self, puts, removals)

    monkeypatch.setattr(linkstore.DjangoLinkStore, "commit", crash_on_resolving_commit)
    with pytest.raises(Killed):
        sync(person)
    monkeypatch.undo()
    UserObjectState.objects.filter(user=person.sync_user).update(lease_owner="", lease_expires_at=None)
    SyncRun.objects.filter(state="running").update(state="failed")


def test_many_pending_exchange_creates_are_recovered_in_a_few_calls(person, monkeypatch):
    salesforce_contacts(person, N)
    crash_after_the_remote_creates(person, monkeypatch)
    assert len(person.outlook.contacts()) == N  # created in the mailbox, links still pending

    assert sync(person) == 0
    recovered = last_run(person, "contacts")
    assert recovered.counts.get("outlook", {}).get("create", 0) == 0
    # The whole run, of which the lookups of the 60 items are 3 calls (EWS: 2 FindItem and a
    # GetItem; Graph: 3 $batch requests).
    assert recovered.api_calls["exchange"] <= 6, recovered.api_calls
    salesforce, outlook = both_sides(person)
    assert salesforce == outlook == sorted(f"Sf{n}" for n in range(N))


def test_many_pending_salesforce_creates_are_recovered_in_a_few_calls(person, monkeypatch):
    outlook_contacts(person, N)
    crash_after_the_remote_creates(person, monkeypatch)
    assert len(sf_rows(person, "SELECT Id FROM Contact")) == N  # created in Salesforce, links still pending

    assert sync(person) == 0
    recovered = last_run(person, "contacts")
    assert recovered.counts.get("salesforce", {}).get("create", 0) == 0
    # The whole run, of which the lookups of the 60 records are 3 queries of 20.
    assert recovered.api_calls["salesforce"] <= 5, recovered.api_calls
    salesforce, outlook = both_sides(person)
    assert salesforce == outlook == sorted(f"Out{n}" for n in range(N))
