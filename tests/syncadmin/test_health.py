from unittest import mock

import pytest
from django.utils import timezone

from sync.models import SyncRun
from syncadmin.models import Heartbeat
from syncadmin.tasks import heartbeat
from tests.factories import make_user


@pytest.fixture
def worker_seen(db):
    heartbeat()


def test_healthz_ok(client, worker_seen):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"]["ok"] and body["broker"]["ok"] and body["worker"]["ok"]


def test_healthz_says_up_or_down_with_a_reason_code_and_nothing_else(client, worker_seen):
    """Public: no database vendor, no transport class, no exception text."""
    body = client.get("/healthz").json()
    assert set(body) == {"status", "database", "broker", "worker"}
    assert body["database"] == {"ok": True, "reason": ""} and body["broker"] == {"ok": True, "reason": ""}
    assert set(body["worker"]) == {"ok", "reason", "seen_at"}


def test_healthz_503_when_database_down(client, worker_seen):
    with mock.patch("syncadmin.health.connection.cursor", side_effect=RuntimeError("connection refused")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == {"ok": False, "reason": "unreachable"}
    assert "connection refused" not in response.content.decode()


def test_healthz_503_when_broker_down(client, worker_seen):
    with mock.patch("syncadmin.health.celery_app.connection_for_write", side_effect=OSError("no route")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == {"ok": False, "reason": "unreachable"}
    assert "no route" not in response.content.decode()


def test_healthz_503_when_no_worker_answered_within_the_heartbeat_window(client, worker_seen):
    """Beat and the workers can all be dead while the database and broker answer: that is not healthy."""
    Heartbeat.objects.update(seen_at=timezone.now() - timezone.timedelta(hours=1))
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"
    assert response.json()["worker"]["reason"] == "no_worker"
    # The web container's own probe leaves the workers out.
    web = client.get("/healthz?scope=web")
    assert web.status_code == 200 and "worker" not in web.json()


def test_the_dashboard_says_no_worker_and_how_long_runs_have_waited(client, worker_seen, admin_user):
    Heartbeat.objects.update(seen_at=timezone.now() - timezone.timedelta(hours=1))
    SyncRun.objects.create(user=make_user(), object="contacts", trigger="schedule")
    client.force_login(admin_user)
    page = client.get("/").content.decode()
    assert "No worker" in page and "No worker has answered since" in page
    assert "1 run waiting for a worker</a>, the oldest queued" in page


def test_healthz_reports_a_real_unreachable_broker(client, db):
    from kombu import Connection

    unreachable = Connection("redis://127.0.0.1:1/0", connect_timeout=1)
    with mock.patch("syncadmin.health.celery_app.connection_for_write", return_value=unreachable):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False


def test_heartbeat_task_records_worker(db, client):
    assert client.get("/healthz").json()["worker"] == {"ok": False, "reason": "no_heartbeat_yet", "seen_at": None}
    heartbeat()
    worker = client.get("/healthz").json()["worker"]
    assert worker["ok"] is True and worker["reason"] == ""
    Heartbeat.objects.update(seen_at=timezone.now() - timezone.timedelta(hours=1))
    assert client.get("/healthz").json()["worker"]["ok"] is False
