"""The users console pages: the list (filters, badges, pagination, query count) and the user page with its
actions (sync now, test connection, reset), for every role."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from sync.leases import claim
from sync.models import RecordError, SyncRun
from tests.conftest import PASSWORD
from tests.factories import make_configuration, make_user
from users.models import UserObjectState

# No broker: every run a view queues is recorded by the `enqueued` fixture instead of sent.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("enqueued")]

SETTINGS = {
    "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"},
    "tasks": {"direction": "outlook_to_salesforce", "conflict_behavior": "outlook_wins"},
}


def logged_in(account) -> Client:
    client = Client()
    assert client.login(username=account.username, password=PASSWORD)
    return client


@pytest.fixture
def support(support_user):
    return logged_in(support_user)


@pytest.fixture
def admin(admin_user):
    return logged_in(admin_user)


@pytest.fixture
def sales():
    return make_configuration("Sales", profiles=["Sales Rep"], data_settings=SETTINGS)


@pytest.fixture
def ann(sales):
    return make_user("ann@example.com", profile="Sales Rep", name="Ann Archer", email="ann@mail.example.org")


def text(response) -> str:
    return response.content.decode()


# ---- roles ------------------------------------------------------------------------------------------------------


def pages(user):
    return ["/users/", f"/users/{user.pk}/", f"/users/{user.pk}/reset/"]


def test_anonymous_is_sent_to_log_in(client, ann):
    for url in pages(ann):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    response = client.post(f"/users/{ann.pk}/sync-now/")
    assert response.status_code == 302 and SyncRun.objects.count() == 0


def test_api_accounts_and_outsiders_are_refused(ann, api_user, outsider):
    api_user.set_password(PASSWORD)
    api_user.save()
    for account in (api_user, outsider):
        client = logged_in(account)
        for url in pages(ann):
            assert client.get(url).status_code == 403
        assert client.post(f"/users/{ann.pk}/sync-now/").status_code == 403
        assert client.post(f"/users/{ann.pk}/test-connection/").status_code == 403
    assert SyncRun.objects.count() == 0


def test_admin_and_support_see_the_pages_and_the_buttons(admin, support, ann):
    for client in (admin, support):
        for url in pages(ann):
            assert client.get(url).status_code == 200
        page = text(client.get(f"/users/{ann.pk}/"))
        assert ">Sync now</button>" in page
        assert "Test connection" in page
        assert f'href="/users/{ann.pk}/reset/"' in page


def test_a_console_account_without_the_permissions_sees_no_buttons_and_is_refused(support_user, ann):
    group = Group.objects.get(name="support")
    group.permissions.remove(*Permission.objects.filter(
        content_type__app_label="users", codename__in=["sync_now", "reset_sync", "test_connection"]))
    client = logged_in(support_user)
    page = text(client.get(f"/users/{ann.pk}/"))
    assert "Sync now" not in page and "Test connection" not in page and "Reset…" not in page
    assert client.post(f"/users/{ann.pk}/sync-now/").status_code == 403
    assert client.post(f"/users/{ann.pk}/test-connection/").status_code == 403
    assert client.get(f"/users/{ann.pk}/reset/").status_code == 403
    assert client.post(f"/users/{ann.pk}/reset/", {"objects": ["contacts"]}).status_code == 403
    assert SyncRun.objects.count() == 0


def test_navigation_links_the_users_page(support):
    assert 'href="/users/"' in text(support.get("/"))


# ---- the list ---------------------------------------------------------------------------------------------------


def test_list_shows_each_objects_state_as_a_coloured_badge_and_where_the_configuration_comes_from(support, sales):
    pilot = make_configuration("Pilot")
    ann = make_user("ann@example.com", profile="Sales Rep", name="Ann Archer")
    make_user("bob@example.com", profile="Sales Rep", configuration=pilot, name="Bob Baker")
    UserObjectState.objects.filter(user=ann, object="contacts").update(state="in_sync")
    UserObjectState.objects.filter(user=ann, object="events").update(state="needs_attention")
    UserObjectState.objects.filter(user=ann, object="tasks").update(state="error")
    page = text(support.get("/users/"))
    assert 'text-bg-success state-badge" title="Contacts: In sync"' in page
    assert 'text-bg-warning state-badge" title="Events: Needs attention"' in page
    assert 'text-bg-danger state-badge" title="Tasks: Error"' in page
    assert 'text-bg-secondary state-badge" title="Contacts: Disabled"' in page  # "Pilot" syncs nothing
    assert "Sales\n            <div class=\"small text-body-secondary\">via profile</div>" in page
    assert "Pilot\n            <div class=\"small text-body-secondary\">via user</div>" in page
    assert "2 users" in page


def usernames(client, query: str) -> list[str]:
    response = client.get(f"/users/?{query}")
    assert response.status_code == 200
    return [row["user"].username for row in response.context["rows"]]


def test_filters_by_state_configuration_and_search(support, sales):
    pilot = make_configuration("Pilot")
    ann = make_user("ann@example.com", profile="Sales Rep", name="Ann Archer")
    bob = make_user("bob@example.com", profile="Sales Rep", configuration=pilot, name="Bob Baker",
                    email="robert@mail.example.org")
    make_user("cy@example.com", profile="Other", name="Cy Cole")
    UserObjectState.objects.filter(user=bob, object="tasks").update(state="needs_attention")
    UserObjectState.objects.filter(user=ann).update(state="in_sync")

    assert usernames(support, "state=needs_attention") == ["bob@example.com"]
    assert usernames(support, "state=disabled") == ["bob@example.com", "cy@example.com"]  # nothing syncs for them
    assert usernames(support, f"configuration={sales.pk}") == ["ann@example.com"]
    assert usernames(support, "configuration=none") == ["cy@example.com"]
    assert usernames(support, "search=archer") == ["ann@example.com"]
    assert usernames(support, "search=ROBERT@") == ["bob@example.com"]
    assert usernames(support, "search=cy@") == ["cy@example.com"]
    assert usernames(support, f"search=example.com&configuration={pilot.pk}&state=needs_attention") == [
        "bob@example.com"]
    # The empty fields of the filter form mean "any".
    assert len(usernames(support, "search=&state=&configuration=")) == 3
    page = text(support.get("/users/?configuration=none"))
    assert '<option value="none" selected>' in page


@pytest.mark.parametrize("query, field", [
    ("state=sleeping", "state"), ("configuration=abc", "configuration"), ("configuration=-1", "configuration"),
    ("search=" + "x" * 300, "search"),
])
def test_a_bad_filter_value_is_explained_and_the_other_filters_still_apply(support, sales, query, field):
    make_user("ann@example.com", profile="Sales Rep")
    make_user("cy@example.com", profile="Other")
    response = support.get(f"/users/?{query}&search=ann" if field != "search" else f"/users/?{query}")
    assert response.status_code == 200
    assert field in response.context["filter_errors"]
    assert f'id="filter-{field}-error" class="invalid-feedback"' in text(response)
    if field != "search":
        assert [row["user"].username for row in response.context["rows"]] == ["ann@example.com"]


def test_the_list_is_paginated_by_fifty_and_keeps_the_filters(support):
    for number in range(60):
        make_user(f"user{number:02d}@example.com", profile="Sales Rep")
    first = support.get("/users/?search=user")
    assert len(first.context["rows"]) == 50
    assert 'href="?search=user&amp;page=2"' in text(first)
    second = support.get("/users/?search=user&page=2")
    assert second.context["rows"][0]["user"].username == "user50@example.com"
    assert len(second.context["rows"]) == 10
    for bad in ("abc", "0", "999"):  # a bad page number shows a page, never an error
        assert support.get(f"/users/?page={bad}").status_code == 200


def test_the_lists_query_count_does_not_grow_with_users(support, sales):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert support.get("/users/").status_code == 200
        return len(queries)

    for number in range(3):
        make_user(f"few{number}@example.com", profile="Sales Rep")
    few = count()
    for number in range(45):
        make_user(f"many{number}@example.com", profile="Sales Rep" if number % 2 else "Other")
    assert count() == few


# ---- the user page ----------------------------------------------------------------------------------------------


def test_the_user_page_shows_states_the_last_error_runs_and_record_errors(support, ann):
    UserObjectState.objects.filter(user=ann, object="contacts").update(
        state="needs_attention", last_error_code="contacts_folder_missing",
        last_error_message="The contacts folder 'Salesforce_Sync' is gone. Recreate it, or reset the contacts.",
        consecutive_failures=3, last_success_at=datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
    )
    UserObjectState.objects.filter(user=ann, object="tasks").update(
        state="in_sync", next_due_at=datetime(2026, 11, 22, 9, 30, tzinfo=UTC))
    run = SyncRun.objects.create(user=ann, object="contacts", trigger="schedule", state="failed",
                                 error_code="contacts_folder_missing")
    RecordError.objects.create(run=run, side="salesforce", record_id="0038d000000AbCdEAA", code="STRING_TOO_LONG",
                               message="Title: data value too large")
    page = text(support.get(f"/users/{ann.pk}/"))
    assert "Ann Archer" in page and "ann@mail.example.org" in page
    assert "Sales <span class=\"text-body-secondary\">(via profile)</span>" in page
    assert "Recreate it, or reset the contacts." in page and "<code>contacts_folder_missing</code>" in page
    assert "20 Nov 2026, 08:00" in page and "22 Nov 2026, 09:30" in page
    assert "<dt>Consecutive failures</dt><dd>3</dd>" in page
    assert "Not synced by the configuration." in page  # events
    assert f'href="/sync/runs/{run.pk}/">Run {run.pk}</a>' in page
    assert "STRING_TOO_LONG" in page and "Title: data value too large" in page
    assert f'href="/sync/runs/?user={ann.pk}"' in page


def test_an_unknown_user_is_404(support):
    assert support.get("/users/999999/").status_code == 404
    assert support.post("/users/999999/sync-now/").status_code == 404
    assert support.get("/users/999999/reset/").status_code == 404


def test_a_running_sync_shows_a_progress_bar_that_polls(support, ann):
    run = SyncRun.objects.create(user=ann, object="contacts", trigger="manual", state="running",
                                 progress_done=30, progress_total=120)
    page = text(support.get(f"/users/{ann.pk}/"))
    assert f'hx-get="/sync/runs/{run.pk}/progress/" hx-trigger="every 2s"' in page
    assert "30 of 120 records (25%)" in page and 'style="width: 25%"' in page


# ---- sync now ---------------------------------------------------------------------------------------------------


def test_sync_now_queues_the_synced_objects_and_says_so(support, support_user, ann):
    response = support.post(f"/users/{ann.pk}/sync-now/", follow=True)
    runs = list(SyncRun.objects.order_by("object"))
    assert [(r.object, r.trigger, r.actor) for r in runs] == [
        ("contacts", "manual", support_user), ("tasks", "manual", support_user)]
    page = text(response)
    assert response.redirect_chain == [(f"/users/{ann.pk}/", 302)]
    assert f"Sync queued: contacts (run {runs[0].pk}), tasks (run {runs[1].pk})." in page
    assert "alert-success" in page
    assert f'hx-get="/sync/runs/{runs[0].pk}/progress/"' in page  # the queued runs show their progress


def test_sync_now_while_a_sync_runs_names_and_links_the_running_run(support, ann):
    run = SyncRun.objects.create(user=ann, object="contacts", trigger="schedule", state="running")
    claim(UserObjectState.objects.get(user=ann, object="contacts"), "worker-1")
    response = support.post(f"/users/{ann.pk}/sync-now/", {"objects": ["contacts"]}, follow=True)
    page = text(response)
    assert "alert-warning" in page  # nothing new was queued, but a sync is under way: not an error
    assert f"contacts sync is running (run {run.pk})" in page
    assert f'<a href="/sync/runs/{run.pk}/" class="alert-link">Open run {run.pk}</a>' in page
    assert SyncRun.objects.count() == 1


def test_sync_now_needs_post_and_a_configuration(support, sales):
    lone = make_user("lone@example.com", profile="Other")
    assert support.get(f"/users/{lone.pk}/sync-now/").status_code == 405
    page = text(support.post(f"/users/{lone.pk}/sync-now/", follow=True))
    assert "has no active configuration" in page
    assert support.post(f"/users/{lone.pk}/sync-now/", {"objects": ["notes"]}, follow=True).status_code == 200
    assert SyncRun.objects.count() == 0


def test_sync_now_is_protected_by_csrf(support_user, ann):
    client = Client(enforce_csrf_checks=True)
    client.login(username=support_user.username, password=PASSWORD)
    assert client.post(f"/users/{ann.pk}/sync-now/").status_code == 403
    assert SyncRun.objects.count() == 0


# ---- test connection --------------------------------------------------------------------------------------------


def test_test_connection_shows_both_results(support, ann):
    response = support.post(f"/users/{ann.pk}/test-connection/")
    assert response.status_code == 200
    page = text(response)
    assert "Connection test" in page and "Ann Archer" in page  # the whole page, without JavaScript
    assert "No Salesforce connection is configured." in page and "No Exchange (EWS) connection is configured." in page
    assert page.count(">Failed</span>") == 2


def test_test_connection_through_htmx_returns_the_results_alone(support, ann):
    response = support.post(f"/users/{ann.pk}/test-connection/", HTTP_HX_REQUEST="true")
    page = text(response)
    assert page.lstrip().startswith('<section id="connection-test"')
    assert "No Exchange (EWS) connection is configured." in page and "<html" not in page


# ---- reset ------------------------------------------------------------------------------------------------------


def test_the_reset_page_says_what_reset_does_and_does_not_do(support, ann):
    response = support.get(f"/users/{ann.pk}/reset/")
    page = text(response)
    assert "Forgets the <strong>links</strong>" in page and "<strong>watermarks</strong>" in page
    assert "No record is touched" in page and "<strong>full matching sync</strong>" in page
    assert "<strong>deletes nothing</strong>" in page and "<strong>creates no duplicate</strong>" in page
    assert [c for c, _ in response.context["form"].fields["objects"].choices] == ["contacts", "tasks"]
    assert page.count(" checked>") == 2
    assert f'href="/users/{ann.pk}/" class="btn btn-outline-secondary">Cancel</a>' in page
    assert SyncRun.objects.count() == 0  # looking is not resetting


def test_reset_of_the_chosen_objects_queues_a_full_sync(support, ann, enqueued,
                                                       django_capture_on_commit_callbacks):
    UserObjectState.objects.filter(user=ann).update(
        salesforce_watermark=datetime(2026, 11, 1, tzinfo=UTC), exchange_sync_state="state-1")
    with django_capture_on_commit_callbacks(execute=True):
        response = support.post(f"/users/{ann.pk}/reset/", {"objects": ["tasks"]}, follow=True)
    (run,) = SyncRun.objects.all()
    assert (run.object, run.trigger, run.full) == ("tasks", "reset", True)
    assert enqueued == [run]
    assert f"full matching sync queued: tasks (run {run.pk})" in text(response)
    states = {s.object: s for s in UserObjectState.objects.filter(user=ann)}
    assert states["tasks"].salesforce_watermark is None and states["tasks"].exchange_sync_state == ""
    assert states["contacts"].exchange_sync_state == "state-1"  # not chosen, not reset


@pytest.mark.parametrize("data", [{}, {"objects": ["events"]}, {"objects": ["notes"]}])
def test_reset_without_a_valid_choice_explains_and_does_nothing(support, ann, data):
    response = support.post(f"/users/{ann.pk}/reset/", data)
    assert response.status_code == 200
    assert response.context["form"].errors["objects"]
    assert 'role="alert"' in text(response)
    assert SyncRun.objects.count() == 0


def test_reset_while_busy_names_the_running_run(support, ann):
    run = SyncRun.objects.create(user=ann, object="contacts", trigger="manual")  # queued
    page = text(support.post(f"/users/{ann.pk}/reset/", {"objects": ["contacts"]}, follow=True))
    assert f"Open run {run.pk}" in page
    assert SyncRun.objects.count() == 1


def test_reset_of_a_user_with_nothing_to_sync_goes_back_with_a_message(support):
    lone = make_user("lone@example.com", profile="Other")
    response = support.get(f"/users/{lone.pk}/reset/", follow=True)
    assert response.redirect_chain == [(f"/users/{lone.pk}/", 302)]
    assert "there is nothing to reset" in text(response)
