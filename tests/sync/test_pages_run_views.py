"""The run page says what really happened (issue 15, item 7); the progress partial tells the page around it that the
run ended; the runs list opens one hour of the dashboard's charts; the dashboard's health per end, error groups and
links (item 8); the console's time and plural filters."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from sync.models import Connection, RecordError, SyncRun
from sync.reports import end_health, error_groups
from syncadmin.templatetags.console import clock_text, filter_words, quantity, relative, when
from tests.factories import make_user
from users.models import UserObjectState

pytestmark = pytest.mark.django_db


@pytest.fixture
def support(client, support_user):
    client.force_login(support_user)
    return client


@pytest.fixture
def ann():
    return make_user("ann@example.com", name="Ann Archer")


def page_of(client, run) -> str:
    response = client.get(f"/sync/runs/{run.pk}/")
    assert response.status_code == 200
    return response.content.decode()


# ---- the run page -----------------------------------------------------------------------------------------------


def test_a_failed_run_that_wrote_nothing_does_not_claim_every_record_was_written(support, ann):
    run = SyncRun.objects.create(
        user=ann,
        object="contacts",
        trigger="schedule",
        state="failed",
        exchange_protocol="ews",
        error_end="exchange",
        error_code="HTTP_503",
        error_message="Exchange answered HTTP 503.",
        finished_at=timezone.now(),
    )
    page = page_of(support, run)
    assert "every record of this run was written" not in page
    assert "None: the run stopped as a whole (see the error above), not on single records." in page
    assert "Nothing was written: the run stopped before its first write." in page
    assert "The run failed on Exchange (EWS):" in page
    assert "Pairs linked" not in page  # no counts were recorded: no table of zeros


def test_a_failed_run_that_wrote_some_records_says_how_many(support, ann):
    run = SyncRun.objects.create(
        user=ann,
        object="contacts",
        trigger="schedule",
        state="failed",
        error_code="TIMEOUT",
        error_end="salesforce",
        error_message="No answer.",
        progress_done=40,
        progress_total=87,
        finished_at=timezone.now(),
    )
    page = page_of(support, run)
    assert "The run stopped after 40 writes, before it could record them per action." in page
    assert "The run failed on Salesforce:" in page


def test_a_first_run_shows_the_pairs_it_linked(support, ann):
    run = SyncRun.objects.create(
        user=ann,
        object="contacts",
        trigger="schedule",
        state="succeeded",
        full=True,
        counts={"salesforce": {}, "outlook": {"create": 87, "stamp": 87}, "links": 87, "unlinked": 0, "conflicts": 0},
        finished_at=timezone.now(),
    )
    page = page_of(support, run)
    assert "Pairs linked (created or matched): <strong>87</strong>" in page
    assert "Stamped with the Salesforce id" in page
    assert "None: every record of this run was written." in page
    assert "alert" not in page.split('id="run-body"')[1].split("run-facts")[0]  # nothing went wrong: no alert


def test_a_run_with_record_errors_finished_and_says_so(support, ann):
    run = SyncRun.objects.create(
        user=ann,
        object="contacts",
        trigger="schedule",
        state="succeeded",
        counts={"salesforce": {"update": 2}, "outlook": {}, "links": 0},
        error_code="record_errors",
        error_message="1 record(s) could not be synced; they are retried at the next sync.",
        finished_at=timezone.now(),
    )
    RecordError.objects.create(run=run, side="salesforce", record_id="003x", code="STRING_TOO_LONG", message="Title")
    page = page_of(support, run)
    assert "The run failed" not in page
    assert "The run finished, but some records could not be synced:" in page and "alert-warning" in page


def test_a_run_with_nothing_to_write_says_so(support, ann):
    run = SyncRun.objects.create(
        user=ann,
        object="contacts",
        trigger="schedule",
        state="succeeded",
        counts={"salesforce": {}, "outlook": {}, "links": 0, "unlinked": 0, "conflicts": 0},
        finished_at=timezone.now(),
    )
    page = page_of(support, run)
    assert "Nothing needed writing: both sides were already in step." in page
    assert "every record of this run was written" not in page and ">None.</p>" in page


def test_a_run_stopped_by_a_guard_wrote_nothing(support, ann):
    run = SyncRun.objects.create(
        user=ann,
        object="contacts",
        trigger="schedule",
        state="failed",
        counts={"salesforce": {}, "outlook": {}, "links": 0, "unlinked": 0, "conflicts": 0},
        error_code="guard_side_empty",
        error_message="The mailbox returned nothing.",
        finished_at=timezone.now(),
    )
    page = page_of(support, run)
    assert "Nothing was written: the guard stopped the run before its first write." in page
    assert "The run failed:" in page


def test_the_progress_partial_announces_the_end_of_the_run(support, ann):
    run = SyncRun.objects.create(user=ann, object="contacts", trigger="manual", state="running")
    url = f"/sync/runs/{run.pk}/progress/"
    assert "HX-Trigger" not in support.get(url, HTTP_HX_REQUEST="true").headers
    SyncRun.objects.filter(pk=run.pk).update(state="succeeded", finished_at=timezone.now())
    response = support.get(url, HTTP_HX_REQUEST="true")
    assert '"run-finished"' in response.headers["HX-Trigger"] and str(run.pk) in response.headers["HX-Trigger"]


def test_the_pages_around_a_bar_refresh_themselves_when_it_ends(support, ann):
    run = SyncRun.objects.create(user=ann, object="contacts", trigger="manual", state="running")
    user_page = support.get(f"/users/{ann.pk}/").content.decode()
    assert 'hx-trigger="run-finished from:body" hx-select="#user-sync"' in user_page
    assert 'hx-trigger="run-finished from:body" hx-select="#run-body"' in page_of(support, run)


# ---- the runs list: one hour of the dashboard's charts -----------------------------------------------------------


def test_the_runs_list_opens_one_hour(support, ann):
    hour = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    inside = SyncRun.objects.create(user=ann, object="contacts", trigger="schedule")
    outside = SyncRun.objects.create(user=ann, object="contacts", trigger="schedule")
    SyncRun.objects.filter(pk=inside.pk).update(created_at=hour + timedelta(minutes=59))
    SyncRun.objects.filter(pk=outside.pk).update(created_at=hour + timedelta(minutes=60))
    response = support.get("/sync/runs/", {"hour": hour.isoformat(), "state": "queued"})
    assert [run.pk for run in response.context["page"].object_list] == [inside.pk]
    page = response.content.decode()
    assert "Runs queued between" in page and 'name="hour"' in page and "Show every hour" in page


def test_a_bad_hour_is_a_clear_400(support):
    response = support.get("/sync/runs/", {"hour": "yesterday"})
    assert response.status_code == 400
    assert "is not a time" in response.content.decode()


# ---- the dashboard ----------------------------------------------------------------------------------------------


def ran(user, *, state="succeeded", protocol="ews", end="", code="", calls=None, ago=10):
    run = SyncRun.objects.create(
        user=user,
        object="contacts",
        trigger="schedule",
        state=state,
        exchange_protocol=protocol,
        error_end=end,
        error_code=code,
        api_calls=calls if calls is not None else {"salesforce": 2, "exchange": 2},
    )
    moment = timezone.now() - timedelta(minutes=ago)
    SyncRun.objects.filter(pk=run.pk).update(created_at=moment, finished_at=moment)
    return run


def test_an_exchange_outage_fails_the_ews_end_and_leaves_salesforce_well(ann):
    Connection.objects.create(kind="salesforce", url="https://login.example.com")
    Connection.objects.create(kind="exchange", url="https://mail.example.com/EWS/Exchange.asmx")
    bob = make_user("bob@example.com")
    ran(ann, ago=120)
    for user in (ann, bob):
        ran(user, state="failed", end="exchange", code="HTTP_503", calls={"salesforce": 2, "exchange": 1})
    ran(bob, protocol="graph", ago=5)
    ends = {end.key: end for end in end_health()}
    assert (ends["ews"].status, ends["ews"].failed, ends["ews"].runs, ends["ews"].share) == ("failing", 2, 2, 100)
    assert ends["ews"].top_errors == [("HTTP_503", 2)]
    assert ends["ews"].last_success is not None  # two hours ago
    assert (ends["salesforce"].status, ends["salesforce"].failed, ends["salesforce"].runs) == ("ok", 0, 3)
    assert ends["graph"].status == "ok" and not ends["graph"].configured  # used by a run, so shown


def test_a_run_stopped_by_salesforce_counts_against_salesforce_only(ann):
    ran(ann, state="failed", end="salesforce", code="INVALID_SESSION_ID", calls={"salesforce": 1, "exchange": 0})
    ran(ann)
    ends = {end.key: end for end in end_health()}
    assert (ends["salesforce"].failed, ends["salesforce"].runs, ends["salesforce"].status) == (1, 2, "failing")
    assert (ends["ews"].failed, ends["ews"].runs, ends["ews"].status) == (0, 1, "ok")
    assert "graph" not in ends  # no connection, no run: not in use, not shown


def test_no_runs_is_idle_not_well(ann):
    Connection.objects.create(kind="salesforce", url="https://login.example.com")
    ran(ann, ago=90)
    ends = {end.key: end for end in end_health()}
    assert ends["salesforce"].status == "idle" and ends["salesforce"].last_success is not None


def test_failing_users_are_grouped_by_error_code(django_assert_max_num_queries):
    people = [make_user(f"p{n}@example.com", name=f"Person {n}") for n in range(9)]
    for number, person in enumerate(people):
        code, state = ("contacts_folder_missing", "needs_attention") if number < 2 else ("HTTP_503", "error")
        UserObjectState.objects.filter(user=person, object="contacts").update(
            state=state, last_error_code=code, last_error_message=f"{code} for {person.name}"
        )
    UserObjectState.objects.filter(user=people[8], object="events").update(state="error", last_error_code="HTTP_503")
    with django_assert_max_num_queries(2):
        groups = error_groups(per_group=5)
    assert [(g.code, g.state, g.users, g.objects, len(g.examples), g.more) for g in groups] == [
        ("contacts_folder_missing", "needs_attention", 2, 2, 2, 0),
        ("HTTP_503", "error", 7, 8, 5, 3),
    ]
    assert groups[0].message.startswith("contacts_folder_missing for Person")


def test_the_dashboard_links_counts_and_groups_to_the_lists(client, admin_user):
    person = make_user("p@example.com", name="Pat")
    UserObjectState.objects.filter(user=person, object="contacts").update(state="error", last_error_code="HTTP_503")
    client.force_login(admin_user)
    page = client.get("/").content.decode()
    assert 'href="/users/?state=error"' in page and 'href="/users/?state=in_sync"' in page
    assert f'href="/users/{person.pk}/">Pat</a>' in page
    assert 'href="/sync/runs/?state=failed"' in page and 'href="/sync/runs/?hour=' in page
    assert 'id="end-salesforce"' in page


def test_the_dashboard_queries_do_not_grow_with_failing_users_or_runs(client, admin_user):
    client.force_login(admin_user)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/").status_code == 200
        return len(queries)

    few = count()
    for number in range(15):
        person = make_user(f"q{number}@example.com")
        UserObjectState.objects.filter(user=person).update(state="error", last_error_code=f"CODE_{number % 3}")
        ran(person, state="failed", end="exchange", code="HTTP_503")
    assert count() == few


# ---- the console's filters --------------------------------------------------------------------------------------


def test_quantities_have_the_right_plural():
    assert quantity(1, "minute") == "1 minute" and quantity(5, "minute") == "5 minutes"
    assert quantity(1, "entry,entries") == "1 entry" and quantity(0, "entry,entries") == "0 entries"


def test_times_are_said_as_people_say_them():
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert relative(now - timedelta(seconds=20), now) == "just now"
    assert relative(now - timedelta(minutes=1, seconds=5), now) == "1 minute ago"
    assert relative(now - timedelta(minutes=2), now) == "2 minutes ago"
    assert relative(now - timedelta(hours=3, minutes=5), now) == "3 hours ago"
    assert relative(now + timedelta(minutes=5), now) == "in 5 minutes"
    assert relative(now - timedelta(days=40), now) == "13 Oct 2026"
    assert clock_text(now - timedelta(hours=2), now) == "10:00"
    assert clock_text(now - timedelta(days=2), now) == "20 Nov, 12:00"
    html = str(when(now))
    assert html.startswith(f'<time datetime="{now.isoformat()}" title="22 Nov 2026, 12:00:00 UTC" data-when>')
    assert when(None, "Never") == "Never"


def test_filters_are_said_in_words():
    assert filter_words({"field": "MailingCountry", "op": "in", "value": ["France", "Spain"]}) == (
        "MailingCountry is one of “France”, “Spain”"
    )
    assert filter_words({"field": "Email", "op": "is_empty", "value": False}) == "Email is not empty"
    assert filter_words({"field": "Email", "op": "is_empty", "value": True}) == "Email is empty"
    assert filter_words({"field": "Title", "op": "not_equals", "value": "CEO"}) == "Title does not equal “CEO”"
