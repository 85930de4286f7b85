"""A Salesforce edit made while the sync writes that record is never silently overwritten (issue 20, item 4).

The report: an Outlook edit A, the sync's write of A to Salesforce in flight (slowed by a fault), the user saves B in
Salesforce; the write landed after B and both ends showed A, with no conflict recorded although Salesforce wins. Now
the write is conditional on the version the sync knew and is refused, the run records it, and the next run decides
by the conflict behaviour. The same for an edit between the write and the sync's read-back of the version it stores.
"""

import threading
import time
from collections.abc import Callable

import pytest

from sync.models import RecordError
from tests.e2e.test_sync_user import last_run, only, sync
from users.models import SyncState, UserObjectState

pytestmark = pytest.mark.e2e

WRITE = "/services/data/*/composite"  # sObject Collections and Composite alike
QUERY = "/services/data/*/query"


class While:
    """Runs `action` in a thread once the Salesforce emulator has taken the fault on `operation` (the request has
    arrived and is being held for `latency_ms`); `then` arms a second fault from inside that window first."""

    def __init__(self, world, operation: str, latency_ms: int, action: Callable[[], None],
                 then: tuple[str, int] | None = None):
        self.world, self.action, self.then = world, action, then
        self.errors: list[BaseException] = []
        world.fault(world.sandbox.salesforce_url, operation=operation, latency_ms=latency_ms, count=1)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _taken(self) -> None:
        url = f"{self.world.sandbox.salesforce_url}/_sandbox/faults"
        deadline = time.monotonic() + 60
        while self.world.http().get(url).json()["faults"]:
            if time.monotonic() > deadline:
                raise AssertionError("the sync never sent the request the fault was waiting for")
            time.sleep(0.02)

    def _run(self) -> None:
        try:
            self._taken()
            if self.then is not None:
                operation, latency_ms = self.then
                self.world.fault(self.world.sandbox.salesforce_url, operation=operation, latency_ms=latency_ms,
                                 count=1)
                self._taken()
            self.action()
        except BaseException as exc:  # reported by done()
            self.errors.append(exc)

    def done(self) -> None:
        self.thread.join(timeout=60)
        assert not self.thread.is_alive() and not self.errors, self.errors


def arranged(world, behavior: str):
    person = world.person()
    world.configure(person, contacts={"direction": "both", "conflict_behavior": behavior})
    ada = person.salesforce.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "Title": "Before"})["id"]
    assert sync(person) == 0
    item = only(person.outlook.contacts())
    return person, ada, item["id"]


def titles(person, ada: str) -> tuple[str, str]:
    return person.salesforce.Contact.get(ada)["Title"], only(person.outlook.contacts())["job_title"]


@pytest.mark.parametrize(("behavior", "winner"), [("salesforce_wins", "B"), ("outlook_wins", "A")])
def test_a_salesforce_edit_during_the_syncs_write_is_refused_then_decided(either_world, behavior, winner):
    world = either_world
    person, ada, item = arranged(world, behavior)
    person.outlook.update_contact(item, job_title="A")
    time.sleep(1.1)  # Salesforce compares LastModifiedDate to the second: B must be a later second than the link's
    user = While(world, WRITE, 1500, lambda: person.salesforce.Contact.update(ada, {"Title": "B"}))

    assert sync(person) == 0  # the refused write is no failure: the next run decides
    user.done()
    assert titles(person, ada) == ("B", "A")  # B was not overwritten
    run = last_run(person, "contacts")
    (refused,) = RecordError.objects.filter(run=run)
    assert (refused.side, refused.record_id, refused.code, refused.transient) == \
        ("salesforce", ada, "CHANGED_DURING_SYNC", True)
    assert "next sync" in refused.message
    assert UserObjectState.objects.get(user=person.sync_user, object="contacts").state == SyncState.IN_SYNC

    assert sync(person) == 0
    decided = last_run(person, "contacts")
    assert decided.counts["conflicts"] == 1 and not RecordError.objects.filter(run=decided).exists()
    assert titles(person, ada) == (winner, winner)  # B, or A only because the conflict behaviour says so

    assert sync(person) == 0
    assert last_run(person, "contacts").counts["salesforce"] == last_run(person, "contacts").counts["outlook"] == {}


def test_a_salesforce_edit_between_the_write_and_its_version_read_back_reaches_outlook(world):
    person, ada, item = arranged(world, "outlook_wins")
    person.outlook.update_contact(item, job_title="A")
    user = While(world, WRITE, 800, lambda: person.salesforce.Contact.update(ada, {"Title": "B"}),
                 then=(QUERY, 1500))  # the write lands, then the read-back of its version is held

    assert sync(person) == 0
    user.done()
    assert titles(person, ada) == ("B", "A")
    assert not RecordError.objects.filter(run=last_run(person, "contacts")).exists()

    assert sync(person) == 0  # B is a change the sync did not make: copied to Outlook, no conflict
    run = last_run(person, "contacts")
    assert run.counts["outlook"] == {"update": 1} and run.counts["conflicts"] == 0
    assert titles(person, ada) == ("B", "B")
