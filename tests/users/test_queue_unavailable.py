"""Sync now and reset while the task broker is down (issue 20, item 5): 503 with a sentence, and nothing saved: no
run that would block the object, no reset half done, no audit entry for what did not happen."""

import pytest
from kombu import Connection

from audit.models import AuditEntry
from sync.models import RecordLink, SyncRun
from users.models import UserObjectState

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down(monkeypatch):
    """A real broker connection to a port nothing listens on (the probe's own short timeout applies)."""
    unreachable = Connection("redis://127.0.0.1:1/0", connect_timeout=1)
    monkeypatch.setattr("sync.queue.current_app.connection_for_write", lambda: unreachable)


@pytest.fixture
def linked(contacts_user):
    state = UserObjectState.objects.get(user=contacts_user, object="contacts")
    UserObjectState.objects.filter(pk=state.pk).update(exchange_sync_state="watermark-1")
    RecordLink.objects.create(user=contacts_user, object="contacts", salesforce_id="003000000000001",
                              outlook_id="AAMk-1")
    return contacts_user


@pytest.mark.parametrize("action", ["sync", "reset"])
def test_the_api_answers_503_and_leaves_nothing_behind(admin_client_api, linked, broker_down, action):
    response = admin_client_api.post(f"/api/v1/users/{linked.pk}/{action}/", {}, format="json")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("The task queue is unreachable, so nothing was queued.")
    assert response["Retry-After"] == "60"
    assert not SyncRun.objects.exists()
    assert not AuditEntry.objects.filter(action__in=["user.sync_requested", "user.reset"]).exists()
    # A reset refused before it began forgot nothing.
    assert RecordLink.objects.filter(user=linked).count() == 1
    assert UserObjectState.objects.get(user=linked, object="contacts").exchange_sync_state == "watermark-1"


@pytest.mark.parametrize("path", ["sync-now", "reset"])
def test_the_console_says_what_happened_and_queues_nothing(client, admin_user, linked, broker_down, path):
    client.force_login(admin_user)
    data = {"objects": ["contacts"]}
    response = client.post(f"/users/{linked.pk}/{path}/", data, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "The task queue is unreachable, so nothing was queued." in page
    assert not SyncRun.objects.exists() and RecordLink.objects.filter(user=linked).count() == 1


def test_when_the_broker_answers_the_same_request_is_queued(admin_client_api, linked, enqueued,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_api.post(f"/api/v1/users/{linked.pk}/sync/", {}, format="json")
    assert response.status_code == 202 and len(enqueued) == 1
    assert SyncRun.objects.get().sent_at is not None
