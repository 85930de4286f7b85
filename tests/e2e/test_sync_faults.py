"""Faults in the middle of a sync (DESIGN.md §6): afterwards the next sync completes, nothing duplicated or lost.

The faults of Salesforce and of the product itself run with the mailbox on EWS and on Graph; each Exchange
protocol's own faults (EWS's ErrorServerBusy; Graph's 429 with Retry-After, an expired delta link, an expired
token) have their own tests.
"""

import pytest

from sync import linkstore
from sync.models import RecordError, RecordLink, SyncRun
from tests.e2e.test_sync_user import last_run, sf_rows, sync
from users.models import SyncState, UserObjectState

pytestmark = pytest.mark.e2e


class Killed(BaseException):
    """The process dying: nothing in the product catches a BaseException that is not an Exception."""


def outlook_contacts(person, count: int, prefix: str = "Out") -> None:
    for n in range(count):
        person.outlook.create_contact(f"{prefix}{n}", "Look")


def both_sides(person) -> tuple[list[str], list[str]]:
    salesforce = sorted(r["FirstName"] for r in sf_rows(person, "SELECT FirstName FROM Contact"))
    outlook = sorted(c["given_name"] for c in person.outlook.contacts())
    return salesforce, outlook


def _configured(world):
    person = world.person()
    world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    return person


@pytest.fixture
def person(either_world):
    return _configured(either_world)


@pytest.fixture
def ews_person(world):
    return _configured(world)


@pytest.fixture
def graph_person(graph_world):
    return _configured(graph_world)


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


def test_expired_session_mid_sync_is_renewed(person, either_world):
    world = either_world
    outlook_contacts(person, 2)
    assert sync(person) == 0
    world.http().post(f"{world.sandbox.salesforce_url}/_sandbox/sessions/expire", json={"username": person.username})
    person = world.refresh(person)  # the test's own session was expired too
    person.salesforce.Contact.create({"FirstName": "After", "LastName": "Expiry"})
    assert sync(person) == 0
    salesforce, outlook = both_sides(person)
    assert salesforce == outlook == ["After", "Out0", "Out1"]


def test_exchange_busy_backs_off_then_completes(ews_person, world):
    person = ews_person
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
    outlook_contacts(person, 3)
    # Salesforce refuses an e-mail address it cannot parse; Exchange keeps any text (over-long texts are cut to
    # fit instead: tests/e2e/test_emufields_text_limits.py)
    person.outlook.create_contact("Bademail", "X", "no address at all")
    assert sync(person) == 1  # exit code 1: one record failed
    run = last_run(person, "contacts")
    (error,) = RecordError.objects.filter(run=run)
    assert error.code == "INVALID_EMAIL_ADDRESS" and error.side == "salesforce"
    salesforce, outlook = both_sides(person)
    assert salesforce == ["Out0", "Out1", "Out2"] and outlook == ["Bademail", "Out0", "Out1", "Out2"]
    state = UserObjectState.objects.get(user=person.sync_user, object="contacts")
    assert state.state == SyncState.ERROR and "1 record" in state.last_error_message


def test_salesforce_unavailable_for_a_while(person, either_world):
    world = either_world
    outlook_contacts(person, 3)
    world.fault(world.sandbox.salesforce_url, operation="*", status=503, error_code="SERVER_UNAVAILABLE", count=50)
    assert sync(person) == 1
    assert sync(person) == 1
    world.clear_faults()
    assert sync(person) == 0
    salesforce, outlook = both_sides(person)
    assert salesforce == outlook == ["Out0", "Out1", "Out2"]


# ---- Graph's own faults ----------------------------------------------------------------------------------------------


def graph_control(world, path: str) -> None:
    response = world.http().post(f"{world.sandbox.graph_url}/_sandbox/{path}", json={})
    assert response.status_code in (200, 201, 204), response.text


def test_graph_throttling_with_a_short_retry_after_is_waited_out(graph_person, graph_world):
    person = graph_person
    person.salesforce.Contact.create({"FirstName": "Throttled", "LastName": "Once"})
    graph_world.fault(graph_world.sandbox.graph_url, operation="*", status=429, error_code="TooManyRequests",
                      retry_after=1, count=1)
    assert sync(person) == 0
    assert both_sides(person) == (["Throttled"], ["Throttled"])


def test_graph_throttling_with_a_long_retry_after_backs_off(graph_person, graph_world):
    person = graph_person
    person.salesforce.Contact.create({"FirstName": "Throttled", "LastName": "Long"})
    graph_world.fault(graph_world.sandbox.graph_url, operation="*", status=429, error_code="TooManyRequests",
                      retry_after=120, count=1)
    assert sync(person) == 1
    failed = last_run(person, "contacts")
    state = UserObjectState.objects.get(user=person.sync_user, object="contacts")
    assert failed.state == "failed" and state.state == SyncState.ERROR
    assert (state.next_due_at - failed.finished_at).total_seconds() >= 120  # Retry-After honoured by the back-off
    assert sync(person) == 0
    assert both_sides(person) == (["Throttled"], ["Throttled"])


def test_graph_expired_delta_link_reads_everything_and_duplicates_nothing(graph_person, graph_world):
    person = graph_person
    outlook_contacts(person, 3)
    person.salesforce.Contact.create({"FirstName": "Sales", "LastName": "Force"})
    assert sync(person) == 0
    graph_control(graph_world, "delta/expire")
    person.outlook.create_contact("After", "Expiry")
    assert sync(person) == 0
    run = last_run(person, "contacts")
    assert run.counts["salesforce"] == {"create": 1} and "create" not in run.counts["outlook"]
    salesforce, outlook = both_sides(person)
    assert salesforce == outlook == ["After", "Out0", "Out1", "Out2", "Sales"]
    assert RecordLink.objects.filter(user=person.sync_user, state="linked").count() == 5


def test_graph_expired_token_is_renewed(graph_person, graph_world):
    person = graph_person
    outlook_contacts(person, 2)
    assert sync(person) == 0
    graph_control(graph_world, "tokens/expire")  # the product's cached token (and the test's own) are now invalid
    person.salesforce.Contact.create({"FirstName": "After", "LastName": "Expiry"})
    assert sync(person) == 0
    person.outlook = type(person.outlook)(graph_world.sandbox.graph_url, graph_world.graph_app, person.username,
                                          str(graph_world.sandbox.ca_path))
    salesforce, outlook = both_sides(person)
    assert salesforce == outlook == ["After", "Out0", "Out1"]


def test_graph_leaves_meetings_the_user_organizes_alone_and_says_so(graph_world):
    """Graph would e-mail every attendee about a change or a cancellation: such a meeting keeps its Outlook
    version, the run records why, and the object stays in sync (a policy, not a failure)."""
    person = graph_world.person()
    graph_world.configure(person, events={"direction": "both", "conflict_behavior": "salesforce_wins"})
    from tests.e2e.test_sync_user import at

    meeting = person.outlook.create_event("Board meeting", at(28), at(29), attendees=("guest@example.com",))
    assert sync(person) == 0
    (row,) = sf_rows(person, "SELECT Id, Subject FROM Event")
    person.salesforce.Event.update(row["Id"], {"Subject": "Renamed in Salesforce"})
    assert sync(person) == 0
    run = last_run(person, "events")
    (error,) = RecordError.objects.filter(run=run)
    assert error.code == "meeting_not_updated" and error.record_id == meeting
    assert {e["id"]: e for e in person.outlook.events()}[meeting]["subject"] == "Board meeting"
    state = UserObjectState.objects.get(user=person.sync_user, object="events")
    assert state.state == SyncState.IN_SYNC
