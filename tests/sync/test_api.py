"""The runs through the API: roles, detail shape, filters and a constant query count. (The user operations'
endpoints are tested in tests/users/test_operations_api.py.)"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from sync.models import RecordError, SyncRun
from tests.factories import API_ROLES, refused_status

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(contacts_user):
    return contacts_user


@pytest.mark.parametrize("role", API_ROLES)
def test_sync_runs_roles(request, role, user):
    run = SyncRun.objects.create(user=user, object="contacts", trigger="schedule")
    client = request.getfixturevalue(role)
    status = refused_status(role, role in ("support_client_api", "api_client", "admin_client_api"))
    for url in ("/api/v1/sync-runs/", f"/api/v1/sync-runs/{run.pk}/"):
        response = client.get(url)
        assert response.status_code == (status or 200)
    # Runs are written by the sync only: no role may create one (405 for those who may otherwise write).
    writes = {"anonymous_client": 401, "outsider_client_api": 403, "support_client_api": 403}
    assert client.post("/api/v1/sync-runs/", {}).status_code == writes.get(role, 405)


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
    count_queries()  # the token's first use of the minute records its last-used time: not per page
    few = count_queries()
    for _ in range(20):
        run = SyncRun.objects.create(user=user, object="contacts", trigger="schedule")
        RecordError.objects.create(run=run, side="outlook", code="E")
    assert count_queries() == few
