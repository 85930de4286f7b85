"""The sync runs console pages: the list (filters, pagination, query count), one run, and the progress partial."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from sync.models import RecordError, SyncRun
from tests.conftest import PASSWORD
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def logged_in(account) -> Client:
    client = Client()
    assert client.login(username=account.username, password=PASSWORD)
    return client


@pytest.fixture
def support(support_user):
    return logged_in(support_user)


@pytest.fixture
def ann():
    return make_user("ann@example.com", name="Ann Archer")


@pytest.fixture
def bob():
    return make_user("bob@example.com", name="Bob Baker")


def run(user, **values) -> SyncRun:
    values.setdefault("object", "contacts")
    values.setdefault("trigger", "schedule")
    return SyncRun.objects.create(user=user, **values)


def text(response) -> str:
    return response.content.decode()


def run_ids(client, query: str = "") -> list[int]:
    response = client.get(f"/sync/runs/?{query}")
    assert response.status_code == 200
    return [r.pk for r in response.context["page"].object_list]


# ---- roles ------------------------------------------------------------------------------------------------------


def test_roles(client, support, admin_user, api_user, outsider, ann):
    one = run(ann)
    urls = ["/sync/runs/", f"/sync/runs/{one.pk}/", f"/sync/runs/{one.pk}/progress/"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
        assert support.get(url).status_code == 200
        assert logged_in(admin_user).get(url).status_code == 200
        assert logged_in(outsider).get(url).status_code == 403
    api_user.set_password(PASSWORD)
    api_user.save()
    for url in urls:
        assert logged_in(api_user).get(url).status_code == 403


def test_navigation_links_the_runs_page(support):
    assert 'href="/sync/runs/"' in text(support.get("/"))


# ---- the list ---------------------------------------------------------------------------------------------------


def test_the_list_filters_by_user_object_state_and_trigger(support, ann, bob):
    a = run(ann, state="succeeded")
    b = run(ann, object="tasks", state="failed", trigger="manual")
    c = run(bob, state="running", trigger="reset")
    assert run_ids(support) == [c.pk, b.pk, a.pk]
    assert run_ids(support, f"user={ann.pk}") == [b.pk, a.pk]
    assert run_ids(support, "user=BOB@example.com") == [c.pk]  # username or e-mail too
    assert run_ids(support, "object=tasks") == [b.pk]
    assert run_ids(support, "state=failed") == [b.pk]
    assert run_ids(support, "trigger=reset") == [c.pk]
    assert run_ids(support, f"user={ann.pk}&object=contacts&state=succeeded&trigger=schedule") == [a.pk]
    assert len(run_ids(support, "user=&object=&state=&trigger=")) == 3


@pytest.mark.parametrize("query, field", [
    ("object=notes", "object"), ("state=sleeping", "state"), ("trigger=cron", "trigger"), ("user=ghost", "user"),
    ("user=999999", "user"),
])
def test_a_bad_filter_value_is_explained_not_an_error(support, ann, query, field):
    run(ann)
    response = support.get(f"/sync/runs/?{query}")
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert "invalid-feedback" in text(response) and "Correct the filters above" in text(response)
    assert list(response.context["page"].object_list) == []


def test_the_list_is_paginated_and_keeps_the_filters(support, ann):
    SyncRun.objects.bulk_create([SyncRun(user=ann, object="contacts", trigger="schedule") for _ in range(55)])
    first = support.get("/sync/runs/?object=contacts")
    assert len(first.context["page"].object_list) == 50
    assert 'href="?object=contacts&amp;page=2"' in text(first)
    assert len(support.get("/sync/runs/?object=contacts&page=2").context["page"].object_list) == 5
    assert support.get("/sync/runs/?page=nope").status_code == 200


def test_the_lists_query_count_does_not_grow_with_runs(support, ann, bob):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert support.get("/sync/runs/").status_code == 200
        return len(queries)

    RecordError.objects.create(run=run(ann, state="failed"), side="salesforce", code="X")
    few = count()
    for number in range(30):
        made = run(bob if number % 2 else ann, state="failed", actor=None)
        RecordError.objects.create(run=made, side="outlook", code="Y")
    assert count() == few


# ---- one run ----------------------------------------------------------------------------------------------------


def test_the_run_page_shows_counts_api_calls_timings_and_errors(support, support_user, ann):
    created = datetime(2026, 11, 22, 3, 0, 0, tzinfo=UTC)
    one = run(ann, state="failed", trigger="manual", full=True, actor=support_user,
              counts={"salesforce": {"update": 4}, "outlook": {"create": 7, "delete": 1}, "links": 8,
                      "conflicts": 2},
              api_calls={"salesforce": 11, "exchange": 5}, error_code="INVALID_SESSION_ID",
              error_message="The session expired. Sync again.")
    SyncRun.objects.filter(pk=one.pk).update(created_at=created, started_at=created + timedelta(seconds=3),
                                             finished_at=created + timedelta(seconds=45, milliseconds=500))
    RecordError.objects.create(run=one, side="salesforce", record_id="0038d000000AbCdEAA", code="STRING_TOO_LONG",
                               message="Title: data value too large")
    response = support.get(f"/sync/runs/{one.pk}/")
    page = text(response)
    assert [(row["action"], row["salesforce"], row["outlook"]) for row in response.context["counts"]] == [
        ("create", 0, 7), ("update", 4, 0), ("delete", 0, 1),
    ]
    assert "Pairs linked (created or matched): <strong>8</strong>" in page
    assert "Unlinked: <strong>0</strong>" in page and "Conflicts decided: <strong>2</strong>" in page
    assert "The run failed:" in page
    assert "<dt>Salesforce</dt><dd>11</dd><dt>Exchange</dt><dd>5</dd>" in page
    assert "Sync now by sam.support" in page and "Full (reads everything and matches)" in page
    assert "(waited 3.0 s)" in page and "42.5 s" in page
    assert "The session expired. Sync again." in page and "<code>INVALID_SESSION_ID</code>" in page
    assert "STRING_TOO_LONG" in page and "Title: data value too large" in page
    assert f'href="/users/{ann.pk}/"' in page


def test_a_queued_run_without_counts_renders(support, ann):
    one = run(ann)
    page = text(support.get(f"/sync/runs/{one.pk}/"))
    assert "Not yet" in page and "None so far." in page and "The counts appear when the run ends." in page
    assert "every record of this run was written" not in page
    assert "Waiting for a worker" in page


def test_an_unknown_run_is_404(support):
    assert support.get("/sync/runs/999999/").status_code == 404
    assert support.get("/sync/runs/999999/progress/").status_code == 404


# ---- progress ---------------------------------------------------------------------------------------------------


def test_the_progress_partial_polls_while_the_run_runs_and_stops_when_it_ends(support, ann):
    one = run(ann, state="running", progress_done=10, progress_total=40)
    url = f"/sync/runs/{one.pk}/progress/"
    page = text(support.get(url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver/users/{ann.pk}/"))
    assert f'hx-get="{url}" hx-trigger="every 2s"' in page
    assert "10 of 40 records (25%)" in page and 'aria-valuenow="10"' in page

    SyncRun.objects.filter(pk=one.pk).update(progress_total=None)
    assert "10 records so far, counting" in text(support.get(url, HTTP_HX_REQUEST="true"))

    SyncRun.objects.filter(pk=one.pk).update(state="succeeded", finished_at=datetime.now(UTC))
    page = text(support.get(url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver/users/{ann.pk}/"))
    assert "hx-trigger" not in page and "Finished" in page
    assert f'href="/users/{ann.pk}/">Reload the page to see the results' in page
    page = text(support.get(url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver/sync/runs/{one.pk}/"))
    assert f'href="/sync/runs/{one.pk}/">Reload the page' in page
