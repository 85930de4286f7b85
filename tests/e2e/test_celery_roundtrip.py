"""A task enqueued from the web process runs on a real worker, over the configured broker (Redis in CI)."""

import uuid

import pytest
from django.conf import settings

from syncadmin.celery import app
from syncadmin.tasks import ping
from tests.processes import celery_worker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_task_runs_on_a_real_worker(tmp_path):
    queue = f"e2e-{uuid.uuid4().hex[:8]}"  # our own queue: no other worker on this machine can take the task
    log = tmp_path / "worker.log"
    with celery_worker(queue, log_path=log):
        token = uuid.uuid4().hex
        result = ping.apply_async(args=[token], queue=queue)
        try:
            assert result.get(timeout=60) == token
        except Exception:
            print(log.read_text())
            raise
    assert result.successful()
    expected = "redis" if settings.REDIS_URL else "filesystem"
    assert app.connection_for_write().transport_cls == expected


def test_heartbeat_task_reaches_the_database_through_the_worker(tmp_path):
    from syncadmin.models import Heartbeat
    from syncadmin.tasks import heartbeat

    queue = f"e2e-{uuid.uuid4().hex[:8]}"
    with celery_worker(queue, log_path=tmp_path / "worker.log"):
        heartbeat.apply_async(queue=queue)
        for _ in range(120):
            if Heartbeat.objects.filter(name="worker").exists():
                break
            import time

            time.sleep(0.5)
    assert Heartbeat.objects.filter(name="worker").exists(), (tmp_path / "worker.log").read_text()
