"""The dashboard's summary: states, failing users first, runs and records over the last 24 hours."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sync.models import SyncRun
from sync.reports import overview
from tests.factories import make_user
from users.models import UserObjectState

pytestmark = pytest.mark.django_db


def people(count: int, start: int = 0):
    return [make_user(f"p{n}@example.com", name=f"Person {n}") for n in range(start, start + count)]


def test_overview_counts_and_orders(django_assert_max_num_queries):
    a, b, c = people(3)
    UserObjectState.objects.filter(user=a, object="contacts").update(state="error", consecutive_failures=3,
                                                                     last_error_message="Salesforce busy")
    UserObjectState.objects.filter(user=b, object="events").update(state="needs_attention",
                                                                   last_error_message="Folder missing")
    UserObjectState.objects.filter(user=c).update(state="in_sync")
    now = timezone.now()
    SyncRun.objects.create(user=a, object="contacts", trigger="schedule", state="failed", finished_at=now,
                           api_calls={"salesforce": 2, "exchange": 1})
    SyncRun.objects.create(user=c, object="contacts", trigger="schedule", state="succeeded", finished_at=now,
                           counts={"salesforce": {"create": 4, "stamp": 9}, "outlook": {"update": 2}, "links": 1},
                           api_calls={"salesforce": 3, "exchange": 2})
    old = SyncRun.objects.create(user=c, object="tasks", trigger="schedule", state="succeeded")
    SyncRun.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=2), finished_at=now - timedelta(days=2))

    SyncRun.objects.filter(user=c, object="contacts").update(salesforce_api_used=1500,
                                                             salesforce_api_allocation=15000)
    result = overview(now)
    assert result.salesforce_api[:2] == (1500, 15000) and result.salesforce_api_share == 10
    assert result.states == {"error": 1, "needs_attention": 1, "in_sync": 3, "disabled": 4}  # no configuration
    assert [(s.user_id, s.state) for s in result.failing] == [(b.pk, "needs_attention"), (a.pk, "error")]
    assert (result.runs, result.failed_runs) == (2, 1)
    assert result.hours[-1].total == 2 and len(result.hours) == 24
    assert result.records_written == {"salesforce": 4, "outlook": 2}
    assert (result.hours[-1].to_salesforce, result.hours[-1].to_outlook) == (4, 2)
    assert result.api_calls == {"salesforce": 5, "exchange": 3}


def test_dashboard_page_queries_do_not_grow(client, admin_user):
    client.force_login(admin_user)

    def page_queries():
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/")
        assert response.status_code == 200
        return len(queries)

    for user in people(2):
        UserObjectState.objects.filter(user=user).update(state="error", last_error_message="boom")
    few = page_queries()
    for user in people(20, start=10):
        UserObjectState.objects.filter(user=user).update(state="error", last_error_message="boom")
        SyncRun.objects.create(user=user, object="contacts", trigger="schedule", state="failed",
                               finished_at=timezone.now())
    assert page_queries() == few
    body = client.get("/").content.decode()
    assert "Failing users" in body and "Person 10" in body and "runs, 20 failed" in body


def test_page_title_is_plain(client, admin_user):
    client.force_login(admin_user)
    body = client.get("/").content.decode()
    title = body[body.index("<title>") + 7:body.index("</title>")]
    assert title.strip().startswith("Dashboard ·") and "<" not in title
