"""Faults in the middle of a sync (DESIGN.md §6): afterwards the next sync completes, nothing duplicated or lost."""

import pytest
from exchangelib import Contact
from exchangelib.folders import Contacts

from sync import linkstore
from sync.models import RecordError, SyncRun
from tests.e2e.test_sync_user import folder_of, last_run, sf_rows, sync
from users.models import SyncState, UserObjectState

pytestmark = pytest.mark.e2e


class Killed(BaseException):
    """The process dying: nothing in the product catches a BaseException that is not an Exception."""


def outlook_contacts(person, count: int, prefix: str = "Out"):
    folder = Contacts(parent=person.mailbox.contacts, name="Salesforce_Sync")
    folder.save()
    for n in range(count):
        Contact(folder=folder, given_name=f"{prefix}{n}", surname="Look", display_name=f"{prefix}{n} Look").save()
    return folder


def both_sides(person) -> tuple[list[str], list[str]]:
    salesforce = sorted(r["FirstName"] for r in sf_rows(person, "SELECT FirstName FROM Contact"))
    outlook = sorted(c.given_name for c in folder_of(person).all())
    return salesforce, outlook


@pytest.fixture
def person(world):
    person = world.person()
    world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    return person


def test_crash_between_remote_create_and_link_commit_creates_no_duplicate(person, monkeypatch):
    """The process dies after Salesforce created the records and before their links were committed."""
    outlook_contacts(person, 4)
    real_commit = linkstore.DjangoLinkStore.commit
    calls = {"n": 0}

    def crash_on_resolving_commit(self, puts, removals):
        calls["n"] += 1
        # First commit: the pending links (before the remote create). Second: resolving them (after it).
        if calls["n"] == 2:
            raise Killed
        return real_commit(self, puts, removals)

    monkeypatch.setattr(linkstore.DjangoLinkStore, "commit", crash_on_resolving_commit)
    with pytest.raises(Killed):
        sync(person)
    monkeypatch.undo()
    assert len(sf_rows(person, "SELECT Id FROM Contact")) == 4  # created remotely, links still pending
    UserObjectState.objects.filter(user=person.sync_user).update(lease_owner="", lease_expires_at=None)
    SyncRun.objects.filter(state="running").update(state="failed")

    assert sync(person) == 0
    salesforce, outlook = both_sides(person)
    assert salesforce == outlook == [f"Out{n}" for n in range(4)]
    assert sync(person) == 0
    assert last_run(person, "contacts").counts["salesforce"] == {}


def test_expired_session_mid_sync_is_renewed(person, world):
    outlook_contacts(person, 2)
    assert sync(person) == 0
    world.http().post(f"{world.sandbox.salesforce_url}/_sandbox/sessions/expire", json={"username": person.username})
    person = world.refresh(person)  # the test's own session was expired too
    person.salesforce.Contact.create({"FirstName": "After", "LastName": "Expiry"})
    assert sync(person) == 0
    salesforce, outlook = both_sides(person)
    assert salesforce == outlook == ["After", "Out0", "Out1"]


def test_exchange_busy_backs_off_then_completes(person, world):
    person.salesforce.Contact.create({"FirstName": "Busy", "LastName": "Server"})
    world.fault(world.sandbox.exchange_url, operation="CreateItem", status=500, error_code="ErrorServerBusy",
                back_off_ms=30000, count=1)
    assert sync(person) == 1
    failed = last_run(person, "contacts")
    state = UserObjectState.objects.get(user=person.sync_user, object="contacts")
    assert failed.state == "failed" and failed.error_code == "ErrorServerBusy"
    assert state.state == SyncState.ERROR and (state.next_due_at - failed.finished_at).total_seconds() >= 30
    assert sync(person) == 0
    assert both_sides(person) == (["Busy"], ["Busy"])


def test_one_rejected_record_does_not_stop_the_others(person):
    folder = outlook_contacts(person, 3)
    Contact(folder=folder, given_name="Toolong", surname="X" * 120, display_name="Too long").save()
    assert sync(person) == 1  # exit code 1: one record failed
    run = last_run(person, "contacts")
    (error,) = RecordError.objects.filter(run=run)
    assert error.code == "STRING_TOO_LONG" and error.side == "salesforce"
    salesforce, outlook = both_sides(person)
    assert salesforce == ["Out0", "Out1", "Out2"] and outlook == ["Out0", "Out1", "Out2", "Toolong"]
    state = UserObjectState.objects.get(user=person.sync_user, object="contacts")
    assert state.state == SyncState.ERROR and "1 record" in state.last_error_message


def test_salesforce_unavailable_for_a_while(person, world):
    outlook_contacts(person, 3)
    world.fault(world.sandbox.salesforce_url, operation="*", status=503, error_code="SERVER_UNAVAILABLE", count=50)
    assert sync(person) == 1
    assert sync(person) == 1
    world.clear_faults()
    assert sync(person) == 0
    salesforce, outlook = both_sides(person)
    assert salesforce == outlook == ["Out0", "Out1", "Out2"]
