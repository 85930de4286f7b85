"""The service rides out its surroundings failing: Salesforce answering 503 for a while, and Redis restarted (and
emptied) in the middle of runs. Afterwards every user is in_sync, with no duplicate and nothing lost, and the
worker that held unacknowledged messages through the restart is still alive (Celery 5.7.0 exits on it: issue 20).

Uses a Redis server of its own (on a free port) so that restarting it disturbs nothing else.
"""

import shutil
import socket
import subprocess
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from configurations.services import create_configuration
from sync.models import SyncRun
from tests.processes import celery_beat, celery_worker, wait_for
from users.models import SyncState, UserObjectState
from users.services import assign_users

pytestmark = [pytest.mark.e2e]
REDIS = shutil.which("redis-server")
CONTACTS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    raise AssertionError("redis-server did not start")


def everyone_in_sync(people) -> bool:
    states = UserObjectState.objects.filter(user__in=[p.sync_user for p in people], object="contacts")
    return all(s.state == SyncState.IN_SYNC and not s.lease_owner for s in states)


def backed_off_to_the_cap(people, failures: int = 3) -> bool:
    """Every user's contact runs have failed `failures` times in a row. With the test's 2 s base and 5 s cap the
    retries wait 2 s, 4 s, then the capped 5 s: three failures mean back-off was exercised all the way."""
    states = UserObjectState.objects.filter(user__in=[p.sync_user for p in people], object="contacts")
    return len(states) == len(people) and all(s.consecutive_failures >= failures for s in states)


def check_no_duplicates(people) -> None:
    for n, person in enumerate(people):
        expected = sorted(f"P{n}C{i:02d}" for i in range(CONTACTS))
        outlook = sorted(c.given_name for c in (person.mailbox.contacts // "Salesforce_Sync").all())
        salesforce = sorted(r["FirstName"] for r in person.salesforce.query_all("SELECT FirstName FROM Contact")[
            "records"])
        assert outlook == expected and salesforce == expected


@pytest.mark.skipif(REDIS is None, reason="redis-server is not installed")
def test_salesforce_outage_and_redis_restart(live_world, tmp_path):
    people = [live_world.person() for _ in range(3)]
    for n, person in enumerate(people):
        person.salesforce.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
            {"attributes": {"type": "Contact"}, "FirstName": f"P{n}C{i:02d}", "LastName": "Resilient"}
            for i in range(CONTACTS)]})
    configuration = create_configuration({"name": "Resilience", "data_settings": {
        "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}}})
    assign_users(configuration, [p.username for p in people])

    port = free_port()
    redis = start_redis(port)
    # The dispatch jitter keeps its default: it no longer delays messages, so it cannot hide a delayed one.
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "SYNC_BACKOFF_BASE_SECONDS": "2",
           "SYNC_BACKOFF_CAP_SECONDS": "5", "SYNC_QUEUED_RUN_STALE_SECONDS": "15", "SYNC_LEASE_SECONDS": "10",
           "SYNC_QUEUED_RUN_RESEND_SECONDS": "5", "SYNC_BUSY_RETRY_SECONDS": "2"}
    salesforce = live_world.sandbox.salesforce_url
    try:
        with celery_worker("sync,initial,default", concurrency=2, log_path=tmp_path / "worker.log", **env) as worker, \
                celery_beat(tmp_path / "beat-schedule", interval_seconds=2, log_path=tmp_path / "beat.log", **env):
            # Salesforce down until every user's runs have failed as transient errors and backed off to the cap;
            # then it comes back.
            live_world.fault(salesforce, operation="*", status=503, error_code="SERVER_UNAVAILABLE", count=100000)
            wait_for(lambda: UserObjectState.objects.filter(state=SyncState.ERROR).exists(), 60,
                     message="runs failing while Salesforce is down")
            wait_for(lambda: backed_off_to_the_cap(people), 90, interval=1,
                     message="every user's runs failing and backing off while Salesforce is down")
            live_world.clear_faults()
            wait_for(lambda: everyone_in_sync(people), 120, interval=1, message="in_sync after the outage")
            check_no_duplicates(people)

            # Redis killed while runs are in flight (Exchange made slow so that they are), then restarted empty.
            live_world.fault(live_world.sandbox.exchange_url, operation="*", status=200, latency_ms=700, count=60)
            for person in people:
                person.salesforce.Contact.create({"FirstName": "Late", "LastName": person.username})
            UserObjectState.objects.filter(object="contacts").update(next_due_at=timezone.now() - timedelta(1))
            wait_for(lambda: UserObjectState.objects.filter(state=SyncState.SYNCING).exists(), 30, interval=0.2,
                     message="a run in flight")
            redis.kill()
            redis.wait()
            time.sleep(3)
            restarted = timezone.now()
            redis = start_redis(port)
            live_world.clear_faults()
            time.sleep(5)  # the worker reconnects (or, with the bug, has exited by now)
            assert worker.poll() is None, "the worker exited when Redis restarted"
            wait_for(lambda: everyone_in_sync(people) and all(
                (p.mailbox.contacts // "Salesforce_Sync").filter(given_name="Late").count() == 1 for p in people),
                180, interval=2, message="in_sync after the Redis restart")
            assert worker.poll() is None
            assert "Unrecoverable error" not in (tmp_path / "worker.log").read_text()
            # Nothing was left queued by the restart: what the emptied broker lost was found and sent again.
            assert not SyncRun.objects.filter(state=SyncRun.State.QUEUED, created_at__lt=restarted).exists()
    except AssertionError:
        print((tmp_path / "worker.log").read_text()[-6000:])
        raise
    finally:
        redis.kill()
        redis.wait()

    for n, person in enumerate(people):
        names = sorted(c.given_name for c in (person.mailbox.contacts // "Salesforce_Sync").all())
        assert names == sorted(["Late", *[f"P{n}C{i:02d}" for i in range(CONTACTS)]])
        assert person.salesforce.query("SELECT COUNT() FROM Contact")["totalSize"] == CONTACTS + 1
