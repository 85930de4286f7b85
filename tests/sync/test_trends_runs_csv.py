"""The dashboard's trends over 14 days (issue 18, item 6) and the runs as CSV with a date range, a configuration and an
error code, through the console and the API."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from sync.models import SyncRun
from sync.reports import trends
from tests.factories import API_ROLES, make_configuration, make_user, refused_status

pytestmark = pytest.mark.django_db


def _run(user, days_ago: int, state="succeeded", code="", **values):
    when = timezone.now() - timedelta(days=days_ago)
    run = SyncRun.objects.create(user=user, object="contacts", trigger="schedule", state=state, error_code=code,
                                 **values)
    SyncRun.objects.filter(pk=run.pk).update(created_at=when, started_at=when, finished_at=when)
    return run


@pytest.fixture
def history():
    sales = make_configuration("Sales")
    ann, bob = make_user("ann@example.com", configuration=sales), make_user("bob@example.com")
    _run(ann, 0, counts={"salesforce": {"create": 3, "update": 1}, "outlook": {"delete": 2}},
         api_calls={"salesforce": 40, "exchange": 7}, salesforce_api_used=5000, salesforce_api_allocation=100000)
    _run(ann, 0, state="failed", code="ErrorServerBusy", error_message="=HYPERLINK(evil)")
    _run(bob, 2, state="failed", code="INVALID_SESSION_ID")
    _run(bob, 2, state="failed", code="ErrorServerBusy")
    _run(bob, 20)  # outside the 14 days
    SyncRun.objects.create(user=bob, object="tasks", trigger="schedule")  # queued: not ended, not counted
    return sales, ann, bob


def test_trends_count_each_day(history, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        result = trends()
    assert len(result.days) == 14
    today, two_days_ago = result.days[-1], result.days[-3]
    assert (today.succeeded, today.failed, today.to_salesforce, today.to_outlook) == (1, 1, 4, 2)
    assert (today.salesforce_calls, today.exchange_calls, today.org_api_share, today.own_api_share) == (40, 7, 5.0,
                                                                                                         0.04)
    assert two_days_ago.failures == {"INVALID_SESSION_ID": 1, "ErrorServerBusy": 1}
    assert result.codes == ["ErrorServerBusy", "INVALID_SESSION_ID"]
    assert result.runs == 4 and result.failed == 3
    data = result.as_dict()
    assert data["failures"]["ErrorServerBusy"][-1] == 1 and data["runs"]["failed"][-3] == 2
    assert data["api"]["org_share"][0] is None  # no report that day: a gap, not a zero


def test_the_dashboard_carries_the_charts_data(client, admin_user, history):
    client.force_login(admin_user)
    page = client.get("/").content.decode()
    assert 'id="trends-data" type="application/json"' in page
    assert "vendor/chartjs/chart.umd.min" in page and "syncadmin/trends" in page
    assert "<code>ErrorServerBusy</code> 1" in page


def _rows(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode())))


def test_api_csv_filters_by_date_configuration_and_code(admin_client_api, history):
    sales, _, _ = history
    everything = _rows(b"".join(admin_client_api.get("/api/v1/sync-runs.csv").streaming_content))
    assert len(everything) == 6
    today = timezone.localdate().isoformat()
    response = admin_client_api.get("/api/v1/sync-runs.csv", {"since": today, "until": today,
                                                               "configuration": str(sales.pk)})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = _rows(b"".join(response.streaming_content))
    assert [(r["user"], r["state"], r["configuration"]) for r in rows] == [
        ("ann@example.com", "succeeded", "Sales"), ("ann@example.com", "failed", "Sales")]
    assert rows[0]["salesforce_created"] == "3" and rows[0]["outlook_deleted"] == "2"
    assert rows[1]["error_message"] == "'=HYPERLINK(evil)"  # a spreadsheet reads it as text, not a formula
    busy = _rows(b"".join(admin_client_api.get("/api/v1/sync-runs.csv", {"error_code": "ErrorServerBusy"})
                          .streaming_content))
    assert {r["user"] for r in busy} == {"ann@example.com", "bob@example.com"} and len(busy) == 2
    unassigned = _rows(b"".join(admin_client_api.get("/api/v1/sync-runs.csv", {"configuration": "none"})
                                .streaming_content))
    assert {r["user"] for r in unassigned} == {"bob@example.com"}


@pytest.mark.parametrize("params, field", [
    ({"since": "yesterday"}, "since"),
    ({"since": "2026-03-02", "until": "2026-03-01"}, "until"),
    ({"configuration": "424242"}, "configuration"),
    ({"state": "exploded"}, "state"),
])
def test_api_csv_bad_filters_are_400(admin_client_api, history, params, field):
    response = admin_client_api.get("/api/v1/sync-runs.csv", params)
    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize("role", API_ROLES)
def test_api_csv_roles(request, role, history):
    response = request.getfixturevalue(role).get("/api/v1/sync-runs.csv")
    assert response.status_code == (refused_status(role, role != "outsider_client_api") or 200)


def test_console_csv_and_its_refusal(client, support_user, history):
    client.force_login(support_user)
    response = client.get("/sync/runs.csv", {"error_code": "INVALID_SESSION_ID"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="sync-runs-')
    assert [r["user"] for r in _rows(b"".join(response.streaming_content))] == ["bob@example.com"]
    refused = client.get("/sync/runs.csv", {"since": "someday"}, follow=True)
    assert "Nothing was exported: since: Enter the first day as YYYY-MM-DD." in refused.content.decode()


def test_the_runs_page_links_its_filters_to_the_csv(client, support_user, history):
    client.force_login(support_user)
    page = client.get("/sync/runs/", {"state": "failed"}).content.decode()
    assert 'href="/sync/runs.csv?state=failed" download>Download as CSV</a>' in page
    rows = _rows(b"".join(client.get("/sync/runs.csv", {"state": "failed"}).streaming_content))
    assert len(rows) == 3 and {r["state"] for r in rows} == {"failed"}
