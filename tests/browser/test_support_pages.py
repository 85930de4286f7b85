"""A support engineer's journey in Chromium: find a failing user, read the error, sync now, look at reset and
cancel, follow a run. Screenshots of each page go to test-artifacts/."""

import re
from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from sync.models import RecordError, SyncRun
from tests.conftest import PASSWORD
from tests.factories import make_configuration, make_user
from users.models import UserObjectState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SETTINGS = {
    "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"},
    "events": {"direction": "salesforce_to_outlook", "conflict_behavior": "salesforce_wins"},
    "tasks": {"direction": "outlook_to_salesforce", "conflict_behavior": "outlook_wins"},
}


@pytest.fixture
def org():
    sales = make_configuration("Sales EMEA", profiles=["Sales Rep"], data_settings=SETTINGS)
    make_configuration("Pilot", data_settings=SETTINGS)
    ann = make_user("ann.archer@example.com", profile="Sales Rep", name="Ann Archer",
                    email="ann.archer@example.com")
    UserObjectState.objects.filter(user=ann, object="contacts").update(
        state="needs_attention", consecutive_failures=2, last_error_code="contacts_folder_missing",
        last_error_message="The contacts folder 'Salesforce_Sync' no longer exists in the mailbox. Recreate it, "
        "or reset the user's contacts so the next sync creates it again.")
    UserObjectState.objects.filter(user=ann).exclude(object="contacts").update(state="in_sync")
    failed = SyncRun.objects.create(user=ann, object="contacts", trigger="schedule", state="failed",
                                    error_code="contacts_folder_missing", api_calls={"salesforce": 2, "exchange": 3},
                                    error_message="The contacts folder 'Salesforce_Sync' no longer exists.")
    RecordError.objects.create(run=failed, side="salesforce", record_id="0038d000001AbCdEAA",
                               code="STRING_TOO_LONG", message="Title: data value too large: max length=128")
    for number, state in enumerate(["in_sync", "error", "syncing", "not_started", "in_sync"]):
        user = make_user(f"user{number}@example.com", profile="Sales Rep" if number % 2 else "Support",
                         name=f"Colleague {number}")
        UserObjectState.objects.filter(user=user).update(state=state)
    return {"ann": ann, "sales": sales, "failed": failed}


def log_in(page, live_server, account):
    page.goto(f"{live_server.url}/users/")
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/users/")


def test_support_finds_a_failing_user_syncs_now_and_looks_at_reset(live_server, page, support_user, org, enqueued,
                                                                   screenshot):
    ann = org["ann"]
    log_in(page, live_server, support_user)
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    expect(page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Users")).to_have_attribute(
        "aria-current", "page")
    expect(page.get_by_text("6 users", exact=True)).to_be_visible()
    screenshot("users-list")

    page.get_by_label("State of any object").select_option("needs_attention")
    page.get_by_label("Configuration").select_option(label="Sales EMEA")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r".*state=needs_attention.*"))
    expect(page.get_by_text("1 user matches the filters", exact=True)).to_be_visible()
    rows = page.locator("table.users-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_text("Needs attention")).to_be_visible()
    screenshot("users-list-filtered")

    page.get_by_role("link", name="Ann Archer").click()
    page.wait_for_url(f"{live_server.url}/users/{ann.pk}/")
    expect(page.get_by_role("heading", name="Ann Archer")).to_be_visible()
    expect(page.get_by_text("Recreate it, or reset the user's contacts")).to_be_visible()
    expect(page.get_by_text("STRING_TOO_LONG")).to_be_visible()
    screenshot("user-page")

    page.get_by_role("button", name="Test connection").click()  # htmx: the results appear in place
    expect(page.get_by_role("heading", name="Connection test")).to_be_visible()
    expect(page.get_by_text("No Salesforce connection is configured.")).to_be_visible()
    assert page.url == f"{live_server.url}/users/{ann.pk}/"
    screenshot("user-test-connection")

    page.get_by_role("button", name="Sync now").click()
    page.wait_for_url(f"{live_server.url}/users/{ann.pk}/")
    expect(page.get_by_role("alert").filter(has_text="Sync queued: contacts")).to_be_visible()
    assert sorted(run.object for run in enqueued) == ["contacts", "events", "tasks"]
    expect(page.get_by_role("heading", name="Sync in progress")).to_be_visible()
    expect(page.get_by_text("Waiting for a worker since").first).to_be_visible()
    screenshot("user-sync-now")

    # A second press while the runs are queued: the page says which run is busy and links it.
    page.get_by_role("button", name="Sync now").click()
    busy = page.get_by_role("alert").filter(has_text=re.compile("(is|are) queued"))
    expect(busy).to_be_visible()
    expect(busy.get_by_role("link", name=re.compile(r"Open run \d+"))).to_be_visible()

    page.get_by_role("link", name="Reset…").click()
    page.wait_for_url(f"{live_server.url}/users/{ann.pk}/reset/")
    expect(page.get_by_text("deletes nothing")).to_be_visible()
    expect(page.get_by_text("creates no duplicate")).to_be_visible()
    expect(page.get_by_label("Contacts")).to_be_checked()
    screenshot("user-reset")
    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url(f"{live_server.url}/users/{ann.pk}/")
    assert SyncRun.objects.filter(trigger="reset").count() == 0

    page.set_viewport_size({"width": 820, "height": 1180})  # a tablet held upright
    screenshot("user-page-tablet")
    page.goto(f"{live_server.url}/users/")
    screenshot("users-list-tablet")


def test_the_progress_bar_follows_a_running_sync_to_its_end(live_server, page, support_user, org, screenshot):
    ann = org["ann"]
    running = SyncRun.objects.create(user=ann, object="events", trigger="manual", state="running",
                                     progress_done=30, progress_total=120)
    log_in(page, live_server, support_user)
    page.goto(f"{live_server.url}/users/{ann.pk}/")
    bar = page.get_by_role("progressbar", name=f"Progress of run {running.pk}")
    expect(bar).to_have_attribute("aria-valuenow", "30")
    screenshot("user-progress")
    SyncRun.objects.filter(pk=running.pk).update(progress_done=90)
    expect(bar).to_have_attribute("aria-valuenow", "90", timeout=6000)  # the htmx poll every 2 s
    expect(page.get_by_text("90 of 120 records (75%)")).to_be_visible()
    SyncRun.objects.filter(pk=running.pk).update(state="succeeded", finished_at=datetime.now(UTC))
    # The bar's last answer refreshes the user's runs and states in place: nothing left "Running" until a reload.
    finished = page.locator("#user-sync table tbody tr").filter(has_text=f"Run {running.pk}")
    expect(finished.get_by_text("Succeeded")).to_be_visible(timeout=6000)
    expect(bar).to_have_count(0)


def test_support_browses_the_runs(live_server, page, support_user, org, screenshot):
    failed = org["failed"]
    SyncRun.objects.create(user=org["ann"], object="tasks", trigger="manual", state="succeeded",
                           counts={"salesforce": {"create": 3}, "outlook": {"update": 1}, "links": 3, "conflicts": 0},
                           api_calls={"salesforce": 4, "exchange": 2})
    log_in(page, live_server, support_user)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Sync runs").click()
    page.wait_for_url(f"{live_server.url}/sync/runs/")
    expect(page.get_by_role("heading", name="Sync runs")).to_be_visible()
    page.get_by_label("State", exact=True).select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("1 run match the filters")).to_be_visible()
    screenshot("runs-list")
    page.get_by_role("link", name=f"Run {failed.pk}").click()
    page.wait_for_url(f"{live_server.url}/sync/runs/{failed.pk}/")
    expect(page.get_by_text("The run failed:")).to_be_visible()
    expect(page.get_by_text("Title: data value too large")).to_be_visible()
    screenshot("run-page")
