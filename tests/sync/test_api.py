"""Sync operations through the API: roles on every endpoint, 202/400/409, runs and their filters."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from configurations.services import assign_users, create_configuration
from sync.models import RecordError, SyncRun
from users.services import add_sync_user

pytestmark = pytest.mark.django_db

ROLES = ["anonymous_client", "outsider_client_api", "support_client_api", "api_client", "admin_client_api"]


@pytest.fixture
def user():
    user = add_sync_user({"salesforce_id": "005000000000001", "username": "ben@example.com",
                          "email": "ben@example.com"})
    configuration = create_configuration({"name": "Sales", "data_settings": {
        "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}}})
    assign_users(configuration, [user.username])
    return user


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("sync.services._enqueue_runs", lambda runs: None)


def expected(role: str, allowed: bool) -> int | None:
    if role == "anonymous_client":
        return 401
    return None if allowed else 403


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ["sync", "reset"])
def test_sync_and_reset_roles(request, role, action, user):
    client = request.getfixturevalue(role)
    response = client.post(f"/api/v1/users/{user.pk}/{action}/", {}, format="json")
    status = expected(role, role in ("support_client_api", "api_client", "admin_client_api"))
    if status:
        assert response.status_code == status
        assert not SyncRun.objects.exists()
    else:
        assert response.status_code == 202, response.content
        (run_id,) = response.json()["runs"]
        run = SyncRun.objects.get(pk=run_id)
        assert (run.object, run.trigger) == ("contacts", "reset" if action == "reset" else "manual")


@pytest.mark.parametrize("role", ROLES)
def test_test_connection_roles(request, role, user):
    response = request.getfixturevalue(role).post(f"/api/v1/users/{user.pk}/test-connection/")
    status = expected(role, role in ("support_client_api", "api_client", "admin_client_api"))
    if status:
        assert response.status_code == status
    else:
        body = response.json()
        assert response.status_code == 200
        assert body["salesforce"]["ok"] is False and "No Salesforce connection" in body["salesforce"]["detail"]
        assert body["exchange"]["ok"] is False and "No Exchange (EWS) connection" in body["exchange"]["detail"]


@pytest.mark.parametrize("role", ROLES)
def test_import_roles(request, role):
    response = request.getfixturevalue(role).post("/api/v1/users/import/")
    status = expected(role, role in ("api_client", "admin_client_api"))
    if status:
        assert response.status_code == status
    else:
        assert response.status_code == 409  # no Salesforce connection yet: a person must configure it
        assert response.json()["code"] == "salesforce_connection_missing"


@pytest.mark.parametrize("role", ROLES)
def test_sync_runs_roles(request, role, user):
    run = SyncRun.objects.create(user=user, object="contacts", trigger="schedule")
    client = request.getfixturevalue(role)
    status = expected(role, role in ("support_client_api", "api_client", "admin_client_api"))
    for url in ("/api/v1/sync-runs/", f"/api/v1/sync-runs/{run.pk}/"):
        response = client.get(url)
        assert response.status_code == (status or 200)
    # Runs are written by the sync only: no role may create one (405 for those who may otherwise write).
    writes = {"anonymous_client": 401, "outsider_client_api": 403, "support_client_api": 403}
    assert client.post("/api/v1/sync-runs/", {}).status_code == writes.get(role, 405)


def test_conflict_names_the_running_run(admin_client_api, user):
    first = admin_client_api.post(f"/api/v1/users/{user.pk}/sync/", {}, format="json").json()["runs"][0]
    again = admin_client_api.post(f"/api/v1/users/{user.pk}/reset/", {"objects": ["contacts"]}, format="json")
    assert again.status_code == 409
    assert again.json()["running_run"] == first


def test_bad_requests_name_the_problem(admin_client_api, user):
    response = admin_client_api.post(f"/api/v1/users/{user.pk}/sync/", {"objects": ["notes"]}, format="json")
    assert response.status_code == 400 and "objects" in response.json()
    response = admin_client_api.post(f"/api/v1/users/{user.pk}/sync/", {"objects": ["events"]}, format="json")
    assert response.status_code == 400 and "does not sync events" in response.json()["objects"][0]
    assert admin_client_api.post("/api/v1/users/999999/sync/", {}, format="json").status_code == 404


def test_run_detail_shape_and_filters(admin_client_api, user):
    run = SyncRun.objects.create(user=user, object="contacts", trigger="manual", state="succeeded",
                                 counts={"salesforce": {"create": 2}, "outlook": {}, "links": 0, "conflicts": 0},
                                 api_calls={"salesforce": 3, "exchange": 1})
    RecordError.objects.create(run=run, side="salesforce", record_id="003X", code="STRING_TOO_LONG",
                               message="LastName: data value too large")
    SyncRun.objects.create(user=user, object="contacts", trigger="schedule", state="failed", error_code="x")
    detail = admin_client_api.get(f"/api/v1/sync-runs/{run.pk}/").json()
    assert {"id", "user", "object", "trigger", "state", "started_at", "finished_at", "counts", "api_calls",
            "errors"} <= set(detail)
    assert detail["errors"][0]["code"] == "STRING_TOO_LONG" and detail["api_calls"]["salesforce"] == 3
    listed = admin_client_api.get(f"/api/v1/sync-runs/?user={user.pk}&object=contacts&state=succeeded").json()
    assert [r["id"] for r in listed["results"]] == [run.pk] and listed["count"] == 1
    assert admin_client_api.get("/api/v1/sync-runs/?state=nonsense").status_code == 400


def test_run_list_query_count_is_constant(admin_client_api, user):
    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            assert admin_client_api.get("/api/v1/sync-runs/").status_code == 200
        return len(queries)

    for _ in range(3):
        run = SyncRun.objects.create(user=user, object="contacts", trigger="schedule")
        RecordError.objects.create(run=run, side="outlook", code="E")
    few = count_queries()
    for _ in range(20):
        run = SyncRun.objects.create(user=user, object="contacts", trigger="schedule")
        RecordError.objects.create(run=run, side="outlook", code="E")
    assert count_queries() == few
