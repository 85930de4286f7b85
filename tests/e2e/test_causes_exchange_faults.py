"""Exchange faults injected in the sandbox end a run with their real cause (issue 15, item 5): an HTTP 500 page is
reported as HTTP 500 from Exchange in a sentence for support staff; a long ErrorServerBusy back-off becomes the
object's next due time instead of a wait inside the worker."""

import pytest
from exchangelib import FaultTolerance
from exchangelib import util as exchangelib_util
from exchangelib.protocol import CachingProtocol

from sync.models import SyncRun
from tests.e2e.test_sync_user import last_run, sync
from users.models import SyncState, UserObjectState

pytestmark = pytest.mark.e2e

LIBRARY_WORDS = ("Max timeout", "gave up", "Reraised", "Caused by", "<html")


@pytest.fixture
def slept(monkeypatch):
    """What exchangelib sleeps between retries, recorded instead of slept."""
    waits: list[float] = []
    monkeypatch.setattr(exchangelib_util.time, "sleep", waits.append)
    yield waits
    # A back-off belongs to the service account's protocol, shared by every test: with sleeping faked, it would
    # still be pending for the next test.
    for protocol, _ in list(CachingProtocol._protocol_cache.values()):
        if isinstance(getattr(protocol, "retry_policy", None), FaultTolerance):
            protocol.retry_policy.back_off_until = None


@pytest.fixture
def person(world):
    person = world.person()
    world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    person.salesforce.Contact.create({"FirstName": "Ada", "LastName": "Lovelace"})
    return person


def contacts_state(person) -> UserObjectState:
    return UserObjectState.objects.get(user=person.sync_user, object="contacts")


def test_an_exchange_http_500_is_reported_as_http_500_from_exchange(person, world, slept):
    world.fault(world.sandbox.exchange_url, operation="*", status=500, count=50)  # IIS's error page
    assert sync(person) == 1
    run = last_run(person, "contacts")
    state = contacts_state(person)
    assert run.state == SyncRun.State.FAILED and run.error_code == "http_500"
    assert "HTTP 500" in run.error_message and "Exchange" in run.error_message
    assert not any(word in run.error_message for word in LIBRARY_WORDS), run.error_message
    assert state.state == SyncState.ERROR and state.last_error_message == run.error_message
    assert sum(slept) <= 5  # a few seconds of retrying at most, not ~10 s per attempt

    world.clear_faults()
    assert sync(person) == 0


def test_a_long_server_busy_back_off_becomes_next_due(person, world, slept):
    world.fault(
        world.sandbox.exchange_url,
        operation="*",
        status=500,
        error_code="ErrorServerBusy",
        back_off_ms=120_000,
        count=50,
    )
    assert sync(person) == 1
    run = last_run(person, "contacts")
    state = contacts_state(person)
    assert run.error_code == "ErrorServerBusy" and "120 seconds" in run.error_message
    assert not any(word in run.error_message for word in LIBRARY_WORDS), run.error_message
    assert (state.next_due_at - run.finished_at).total_seconds() >= 120
    assert sum(slept) == 0  # nothing waited in the worker
