from unittest import mock

from django.utils import timezone

from syncadmin.models import Heartbeat
from syncadmin.tasks import heartbeat


def test_healthz_ok(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["database"]["ok"] and body["broker"]["ok"]


def test_healthz_503_when_database_down(client, db):
    with mock.patch("syncadmin.health.connection.cursor", side_effect=RuntimeError("connection refused")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == {"ok": False, "detail": "RuntimeError: connection refused"}


def test_healthz_503_when_broker_down(client, db):
    with mock.patch("syncadmin.health.celery_app.connection_for_write", side_effect=OSError("no route")):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False
    assert "no route" in response.json()["broker"]["detail"]


def test_healthz_reports_a_real_unreachable_broker(client, db):
    from kombu import Connection

    unreachable = Connection("redis://127.0.0.1:1/0", connect_timeout=1)
    with mock.patch("syncadmin.health.celery_app.connection_for_write", return_value=unreachable):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"]["ok"] is False


def test_heartbeat_task_records_worker(db, client):
    assert client.get("/healthz").json()["worker"] == {"seen_at": None, "fresh": False}
    heartbeat()
    worker = client.get("/healthz").json()["worker"]
    assert worker["fresh"] is True
    Heartbeat.objects.update(seen_at=timezone.now() - timezone.timedelta(hours=1))
    assert client.get("/healthz").json()["worker"]["fresh"] is False
