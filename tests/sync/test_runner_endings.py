"""A run holds its object's lease while it writes, and ends with a reason in our words, whatever stops it.

The chaos run saw two runs of one object overlap: the first outlived its lease on a slow end, the next claimed the
object, and both created the same records. Now every batch of writes first renews the lease, and a run whose lease
another run took stops before writing. A defect of ours inside a run ends it with a reason instead of leaving it
`running` until the next run calls it `worker_lost`.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from sync.engine import Side
from sync.leases import claim
from sync.models import SyncRun
from sync.queue import queue_run
from sync.runner import Clients, execute_run
from tests.sync.test_runner import FakeEnd, state_of, user  # noqa: F401 - the fixture
from users.models import SyncState, UserObjectState

pytestmark = pytest.mark.django_db


class SlowEnd(FakeEnd):
    """An end so slow that, by the time the run has read it, the lease has run out; with `overtaken`, the next run
    has also claimed the object. Records the lease's expiry each time the run writes."""

    def __init__(self, side, sync_user, *, overtaken: bool):
        super().__init__(side)
        self.sync_user, self.overtaken = sync_user, overtaken
        self.lease_at_writes = []

    def side(self, object_type, options, *args, **kwargs):
        inner = super().side(object_type, options, *args, **kwargs)
        end = self

        class Slow:
            def __getattr__(self, name):
                return getattr(inner, name)

            def changes(self, watermark):
                answer = inner.changes(watermark)
                state = UserObjectState.objects.get(user=end.sync_user, object=object_type)
                UserObjectState.objects.filter(pk=state.pk).update(
                    lease_expires_at=timezone.now() - timedelta(seconds=1))
                if end.overtaken:
                    assert claim(state, "the-next-run")
                return answer

            def create(self, requests):
                end.lease_at_writes.append(
                    UserObjectState.objects.get(user=end.sync_user, object=object_type).lease_expires_at)
                return inner.create(requests)

        return Slow()


def test_a_run_that_lost_its_lease_stops_before_writing(user):  # noqa: F811
    ends = Clients(salesforce=FakeEnd(Side.SALESFORCE), exchange=SlowEnd(Side.OUTLOOK, user, overtaken=True))
    ends.salesforce.sides["contacts"].add({"first_name": "Ada", "last_name": "Lovelace"})
    before = state_of(user)
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=ends)
    assert (run.state, run.error_code) == (SyncRun.State.FAILED, "lease_lost"), run.error_message
    assert "another run took over" in run.error_message
    assert ends.exchange.sides["contacts"].live() == {}  # nothing written twice
    state = state_of(user)
    assert state.lease_owner == "the-next-run"  # the other run's lease and state row are left alone
    assert state.consecutive_failures == before.consecutive_failures


def test_a_run_whose_lease_ran_out_unclaimed_renews_it_and_writes(user):  # noqa: F811
    ends = Clients(salesforce=FakeEnd(Side.SALESFORCE), exchange=SlowEnd(Side.OUTLOOK, user, overtaken=False))
    for n in range(3):
        ends.salesforce.sides["contacts"].add({"first_name": f"P{n}", "last_name": "Person"})
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=ends)
    assert run.state == SyncRun.State.SUCCEEDED, run.error_message
    assert len(ends.exchange.sides["contacts"].live()) == 3
    assert ends.exchange.lease_at_writes and all(at > timezone.now() for at in ends.exchange.lease_at_writes)
    assert state_of(user).lease_owner == ""


def test_an_unexpected_error_ends_the_run_with_a_reason(user):  # noqa: F811
    ends = Clients(salesforce=FakeEnd(Side.SALESFORCE), exchange=FakeEnd(Side.OUTLOOK))
    ends.exchange.raise_on_side = RuntimeError("a defect")
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=ends)
    assert (run.state, run.error_code) == (SyncRun.State.FAILED, "internal_error")
    assert "report it with the worker's log" in run.error_message and "a defect" not in run.error_message
    state = state_of(user)
    assert state.state == SyncState.ERROR and state.next_due_at and state.lease_owner == ""


def test_a_salesforce_outage_is_told_in_our_words_with_its_code(user):  # noqa: F811
    from sync.connectors.base import PermanentError, TransientError

    ends = Clients(salesforce=FakeEnd(Side.SALESFORCE), exchange=FakeEnd(Side.OUTLOOK))
    ends.salesforce.raise_on_side = TransientError("SERVER_UNAVAILABLE", "<html>503 Service Unavailable</html>")
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=ends)
    assert run.error_code == "SERVER_UNAVAILABLE"
    assert run.error_message == (
        "Salesforce could not answer this run (code SERVER_UNAVAILABLE). The sync tries again by itself, backing "
        "off while this lasts; nothing needs doing unless it goes on.")

    ends.salesforce.raise_on_side = TransientError("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.",
                                                   retry_after=3600)
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=ends)
    assert run.error_message.startswith("Salesforce answered: The org's daily API request limit is used up (code "
                                        "REQUEST_LIMIT_EXCEEDED). The sync tries again by itself in about 60 minutes")

    ends.salesforce.raise_on_side = PermanentError("MALFORMED_QUERY", "unexpected token: 'FROM'")
    run = execute_run(queue_run(user, "contacts", SyncRun.Trigger.COMMAND).pk, clients=ends)
    assert "unexpected token" not in run.error_message
    assert run.error_message.startswith("Salesforce refused this run (code MALFORMED_QUERY).")
