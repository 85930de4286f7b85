"""A Redis restart while a worker holds unacknowledged messages (issue 20, item 2).

Celery 5.7.0's worker exits on it ("Unrecoverable error: AttributeError(\"'NoneType' object has no attribute
'hostname'\")"): when the connection drops it closes the channel, whose restore of the unacknowledged messages
needs a Redis client it can no longer build. A delayed (ETA) message is held unacknowledged for its whole delay, so
the product's old dispatch jitter made every worker vulnerable; the product sends none any more, but a message from
an older version, or another app's, must not kill the worker either. The worker must survive, reconnect and keep
consuming: a run sent after the restart runs. (A restart with a run in progress is in test_resilience.py.)

Uses a Redis server of its own (on a free port) so that restarting it disturbs nothing else. The runs are sent
straight to that Redis (no beat), so the run is the first message the worker ever acknowledges.
"""

import time

import pytest
from celery import Celery

from configurations.services import create_configuration
from sync.models import SyncRun
from sync.queue import SYNC_RUN_TASK, queue_run
from tests.e2e.test_resilience import REDIS, free_port, start_redis
from tests.processes import celery_worker, wait_for
from users.services import assign_users

pytestmark = [pytest.mark.e2e]


def send(redis_url: str, run_id: int, queue: str = "sync", **options) -> None:
    # Not the current app: the product's own app must keep pointing at the test run's broker afterwards.
    sender = Celery("sender", broker=redis_url, set_as_current=False)
    with sender.connection_for_write() as connection:
        sender.send_task(SYNC_RUN_TASK, args=[run_id], queue=queue, connection=connection, **options)


@pytest.mark.skipif(REDIS is None, reason="redis-server is not installed")
def test_a_worker_with_a_message_in_hand_survives_a_redis_restart(live_world, tmp_path):
    person = live_world.person()
    person.salesforce.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Contact"}, "FirstName": f"R{i:02d}", "LastName": "Restart"} for i in range(10)]})
    configuration = create_configuration({"name": "Redis restart", "data_settings": {
        "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}}})
    assign_users(configuration, [person.username])

    port = free_port()
    redis_url = f"redis://127.0.0.1:{port}/0"
    redis = start_redis(port)
    log = tmp_path / "worker.log"
    try:
        with celery_worker("sync,initial,default", concurrency=1, log_path=log, REDIS_URL=redis_url) as worker:
            wait_for(lambda: "ready" in log.read_text(), 60, message="the worker to start")
            for _ in range(3):  # delayed messages, held unacknowledged (no such run: each is a no-op)
                send(redis_url, 0, countdown=120)
            wait_for(lambda: log.read_text().count(" received") == 3, 30,
                     message="the delayed messages in the worker's hand")
            redis.kill()
            redis.wait()
            time.sleep(2)
            redis = start_redis(port)
            time.sleep(3)
            assert worker.poll() is None, f"the worker exited when Redis restarted:\n{log.read_text()[-3000:]}"

            # It reconnected and consumes again.
            person.salesforce.Contact.create({"FirstName": "After", "LastName": "Restart"})
            second = queue_run(person.sync_user, "contacts", SyncRun.Trigger.MANUAL)
            wait_for(lambda: _sent(redis_url, second.pk), 30, message="the broker to take a message again")
            wait_for(lambda: SyncRun.objects.get(pk=second.pk).state in SyncRun.TERMINAL_STATES, 60,
                     message="a run sent after the restart")
            assert SyncRun.objects.get(pk=second.pk).state == SyncRun.State.SUCCEEDED
            assert worker.poll() is None
        assert "Unrecoverable error" not in log.read_text()
    finally:
        redis.kill()
        redis.wait()
    names = sorted(c.given_name for c in (person.mailbox.contacts // "Salesforce_Sync").all())
    assert names == sorted(["After", *[f"R{i:02d}" for i in range(10)]])


def _sent(redis_url: str, run_id: int) -> bool:
    try:
        send(redis_url, run_id)
    except Exception:  # Redis still starting: try again
        return False
    return True
