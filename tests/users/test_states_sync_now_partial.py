"""Sync now and reset queue every object that can be queued (issue 15 item 2): 202 with the runs queued and,
beside them, the objects already queued or running with their runs; 409 only when nothing could be queued. The
console says the same in one sentence; the broker-down 503 is unchanged."""

import pytest
from kombu import Connection

from audit.models import AuditEntry
from configurations.services import create_configuration
from sync.engine import Link
from sync.leases import claim
from sync.linkstore import DjangoLinkStore
from sync.models import RecordLink, SyncRun
from users.models import UserObjectState
from users.services import add_sync_user, assign_users

pytestmark = pytest.mark.django_db

BOTH = {"direction": "both", "conflict_behavior": "salesforce_wins"}


@pytest.fixture
def ann():
    """Ann, whose configuration syncs contacts, events and tasks."""
    user = add_sync_user(
        {"salesforce_id": "005000000000007", "username": "ann@example.com", "email": "ann@example.com"}
    )
    configuration = create_configuration(
        {"name": "Everything", "data_settings": dict.fromkeys(("contacts", "events", "tasks"), BOTH)}
    )
    assign_users(configuration, [user.username])
    return user


def running(user, sync_object: str) -> SyncRun:
    run = SyncRun.objects.create(user=user, object=sync_object, trigger="schedule", state="running")
    claim(UserObjectState.objects.get(user=user, object=sync_object), "worker-1")
    return run


def test_sync_now_queues_the_free_objects_and_names_the_busy_ones(
    admin_client_api, ann, enqueued, django_capture_on_commit_callbacks
):
    queued = SyncRun.objects.create(user=ann, object="events", trigger="schedule")  # queued, waiting for a worker
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_api.post(f"/api/v1/users/{ann.pk}/sync/", {}, format="json")

    assert response.status_code == 202, response.content
    body = response.json()
    contacts, tasks = SyncRun.objects.filter(trigger="manual").order_by("object")
    assert body["runs"] == [contacts.pk, tasks.pk]
    assert body["queued"] == [{"object": "contacts", "run": contacts.pk}, {"object": "tasks", "run": tasks.pk}]
    assert body["busy"] == [{"object": "events", "run": queued.pk, "state": "queued"}]
    assert body["detail"] == (
        f"Sync queued: contacts (run {contacts.pk}), tasks (run {tasks.pk}); events was "
        f"already queued (run {queued.pk}), so it was left to that run."
    )
    assert enqueued == [contacts, tasks]
    entry = AuditEntry.objects.get(action="user.sync_requested")
    assert entry.changes["busy"] == body["busy"] and entry.changes["objects"] == ["contacts", "tasks"]


def test_sync_now_of_objects_all_under_way_is_a_409_naming_each_run(admin_client_api, ann, enqueued):
    busy_contacts = running(ann, "contacts")
    busy_tasks = SyncRun.objects.create(user=ann, object="tasks", trigger="schedule")
    response = admin_client_api.post(f"/api/v1/users/{ann.pk}/sync/", {"objects": ["contacts", "tasks"]}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["running_run"] == busy_contacts.pk
    assert body["busy"] == [
        {"object": "contacts", "run": busy_contacts.pk, "state": "running"},
        {"object": "tasks", "run": busy_tasks.pk, "state": "queued"},
    ]
    assert body["detail"] == (
        f"Nothing was queued: ann@example.com's contacts sync is running (run "
        f"{busy_contacts.pk}) and its tasks sync is queued (run {busy_tasks.pk}), so a sync "
        "is already under way."
    )
    assert SyncRun.objects.count() == 2 and enqueued == []


def test_reset_resets_the_free_objects_and_leaves_a_running_one_untouched(admin_client_api, ann, enqueued):
    for sync_object in ("contacts", "tasks"):
        DjangoLinkStore(ann.pk, sync_object).commit([Link(f"{sync_object}-sf", f"{sync_object}-ol")], [])
    busy = running(ann, "contacts")
    response = admin_client_api.post(
        f"/api/v1/users/{ann.pk}/reset/", {"objects": ["contacts", "tasks"]}, format="json"
    )
    assert response.status_code == 202, response.content
    body = response.json()
    (reset,) = SyncRun.objects.filter(trigger="reset")
    assert (body["runs"], body["busy"]) == ([reset.pk], [{"object": "contacts", "run": busy.pk, "state": "running"}])
    assert body["detail"] == (
        f"Reset done; full matching sync queued: tasks (run {reset.pk}); contacts was already "
        f"running (run {busy.pk}), so it was not reset: reset it once that run has ended."
    )
    assert list(RecordLink.objects.filter(user=ann).values_list("object", flat=True)) == ["contacts"]


def test_reset_of_only_busy_objects_is_a_409_and_forgets_nothing(admin_client_api, ann, enqueued):
    DjangoLinkStore(ann.pk, "contacts").commit([Link("003A", "OL-A")], [])
    busy = running(ann, "contacts")
    response = admin_client_api.post(f"/api/v1/users/{ann.pk}/reset/", {"objects": ["contacts"]}, format="json")
    assert response.status_code == 409
    assert response.json()["detail"].startswith(
        f"Nothing was reset: ann@example.com's contacts sync is running (run {busy.pk})."
    )
    assert RecordLink.objects.filter(user=ann).count() == 1


def test_the_broker_being_down_still_answers_503_and_saves_nothing(admin_client_api, ann, monkeypatch):
    SyncRun.objects.create(user=ann, object="events", trigger="schedule")
    unreachable = Connection("redis://127.0.0.1:1/0", connect_timeout=1)
    monkeypatch.setattr("sync.queue.current_app.connection_for_write", lambda: unreachable)
    response = admin_client_api.post(f"/api/v1/users/{ann.pk}/sync/", {}, format="json")
    assert response.status_code == 503 and response["Retry-After"] == "60"
    assert SyncRun.objects.count() == 1


def test_the_console_says_what_was_queued_and_what_was_under_way_in_one_sentence(client, admin_user, ann, enqueued):
    busy = running(ann, "events")
    client.force_login(admin_user)
    response = client.post(f"/users/{ann.pk}/sync-now/", follow=True)
    page = response.content.decode()
    contacts, tasks = SyncRun.objects.filter(trigger="manual").order_by("object")
    assert "alert-info" in page and "alert-danger" not in page
    assert (
        f"Sync queued: contacts (run {contacts.pk}), tasks (run {tasks.pk}); events was already running (run "
        f"{busy.pk}), so it was left to that run. The progress shows below."
    ) in page


def test_the_openapi_schema_documents_the_new_answer(admin_client_api):
    schema = admin_client_api.get("/api/schema/?format=json").json()
    queued = schema["components"]["schemas"]["QueuedRuns"]["properties"]
    assert {"runs", "queued", "busy", "detail"} <= set(queued)
    busy = schema["components"]["schemas"]["SyncBusy"]["properties"]
    assert {"detail", "running_run", "busy"} <= set(busy)
