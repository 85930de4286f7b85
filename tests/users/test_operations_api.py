"""The user operations through the API: sync now, reset, test connection and import, for every role;
202/400/409 and what they name. The runs are recorded by the `enqueued` fixture, never sent."""

import pytest

from sync.models import SyncRun
from tests.factories import API_ROLES, refused_status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("enqueued")]


@pytest.fixture
def user(contacts_user):
    return contacts_user


@pytest.mark.parametrize("role", API_ROLES)
@pytest.mark.parametrize("action", ["sync", "reset"])
def test_sync_and_reset_roles(request, role, action, user):
    client = request.getfixturevalue(role)
    response = client.post(f"/api/v1/users/{user.pk}/{action}/", {}, format="json")
    status = refused_status(role, role in ("support_client_api", "api_client", "admin_client_api"))
    if status:
        assert response.status_code == status
        assert not SyncRun.objects.exists()
    else:
        assert response.status_code == 202, response.content
        (run_id,) = response.json()["runs"]
        run = SyncRun.objects.get(pk=run_id)
        assert (run.object, run.trigger) == ("contacts", "reset" if action == "reset" else "manual")


@pytest.mark.parametrize("role", API_ROLES)
def test_test_connection_roles(request, role, user):
    response = request.getfixturevalue(role).post(f"/api/v1/users/{user.pk}/test-connection/")
    status = refused_status(role, role in ("support_client_api", "api_client", "admin_client_api"))
    if status:
        assert response.status_code == status
    else:
        body = response.json()
        assert response.status_code == 200
        assert body["salesforce"]["ok"] is False and "No Salesforce connection" in body["salesforce"]["detail"]
        assert body["exchange"]["ok"] is False and "No Exchange (EWS) connection" in body["exchange"]["detail"]


@pytest.mark.parametrize("role", API_ROLES)
def test_import_roles(request, role):
    response = request.getfixturevalue(role).post("/api/v1/users/import/")
    status = refused_status(role, role in ("api_client", "admin_client_api"))
    if status:
        assert response.status_code == status
    else:
        assert response.status_code == 409  # no Salesforce connection yet: a person must configure it
        assert response.json()["code"] == "salesforce_connection_missing"


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
