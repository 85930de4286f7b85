"""Issue 15 items 1, 2 and 6 in Chromium: an admin narrows a configuration and the user's page says "Disabled" at
once, with the reason; support presses Sync now while one object is already queued and reads one sentence saying
what was queued and what was left to the run already under way; record counts say which side each count is from.
Screenshots go to test-artifacts/."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from sandbox.services import connect_to_sandbox
from sync.models import SyncRun
from tests.configurations.test_states_record_counts import person, soon
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
def ann():
    sales = make_configuration("Sales EMEA", profiles=["Sales Rep"], data_settings=SETTINGS)
    ann = make_user("ann.archer@example.com", profile="Sales Rep", name="Ann Archer", email="ann.archer@example.com")
    make_user("bob.baker@example.com", profile="Sales Rep", name="Bob Baker")
    # Synced a while ago; the next run was due a minute ago (the "In sync" with a past "Next due").
    UserObjectState.objects.update(
        state="in_sync",
        last_success_at=timezone.now() - timedelta(minutes=3),
        last_run_at=timezone.now() - timedelta(minutes=3),
        next_due_at=timezone.now() - timedelta(minutes=1),
    )
    ann.sales = sales
    return ann


def log_in(page, live_server, account, then: str):
    page.goto(f"{live_server.url}{then}")
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}{then}")


def object_card(page, label: str):
    return page.locator(".object-card").filter(has=page.get_by_role("heading", name=re.compile(f"^{label}")))


def test_narrowing_a_configuration_shows_disabled_at_once(live_server, page, admin_user, ann, screenshot):
    log_in(page, live_server, admin_user, f"/users/{ann.pk}/")
    expect(object_card(page, "Events").get_by_text("In sync")).to_be_visible()

    page.goto(f"{live_server.url}/configurations/{ann.sales.pk}/edit/")
    page.get_by_role("region", name="Events").get_by_label("Direction").select_option("none")
    page.get_by_role("button", name="Save configuration").click()
    expect(page.get_by_role("alert").get_by_text("Configuration “Sales EMEA” saved.")).to_be_visible()

    page.goto(f"{live_server.url}/users/{ann.pk}/")
    events = object_card(page, "Events")
    expect(events.get_by_text("Disabled", exact=True)).to_be_visible()
    expect(events.get_by_text("The configuration 'Sales EMEA' does not sync events.")).to_be_visible()
    expect(events.get_by_text("Last error")).to_have_count(0)  # a reason, not an error
    expect(object_card(page, "Contacts").get_by_text("In sync", exact=True)).to_be_visible()
    page.set_viewport_size({"width": 1280, "height": 800})
    screenshot("states-user-page-after-narrowing")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("states-user-page-after-narrowing-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    # Every user the configuration applies to, not only the one looked at; the list filters on it.
    page.goto(f"{live_server.url}/users/?state=disabled")
    expect(page.get_by_role("link", name="Ann Archer")).to_be_visible()
    expect(page.get_by_role("link", name="Bob Baker")).to_be_visible()
    page.goto(f"{live_server.url}/")
    screenshot("states-dashboard-after-narrowing")
    assert UserObjectState.objects.filter(object="events", state="disabled").count() == 2


def test_sync_now_with_one_object_already_queued_says_so_in_one_sentence(
    live_server, page, support_user, ann, enqueued, screenshot
):
    waiting = SyncRun.objects.create(user=ann, object="events", trigger="schedule")  # queued, no worker yet
    log_in(page, live_server, support_user, f"/users/{ann.pk}/")
    page.get_by_role("button", name="Sync now").click()
    page.wait_for_url(f"{live_server.url}/users/{ann.pk}/")

    contacts, tasks = SyncRun.objects.filter(trigger="manual").order_by("object")
    sentence = (
        f"Sync queued: contacts (run {contacts.pk}), tasks (run {tasks.pk}); events was already queued "
        f"(run {waiting.pk}), so it was left to that run. The progress shows below."
    )
    expect(page.get_by_role("alert").filter(has_text=sentence)).to_be_visible()
    assert sorted(run.object for run in enqueued) == ["contacts", "tasks"]
    screenshot("states-sync-now-partly-queued")

    # Pressed again: everything is under way now, so nothing is queued and the page says why, naming a run.
    page.get_by_role("button", name="Sync now").click()
    refused = page.get_by_role("alert").filter(has_text="Nothing was queued")
    expect(refused).to_be_visible()
    expect(refused.get_by_role("link", name=re.compile(r"Open run \d+"))).to_be_visible()
    assert SyncRun.objects.count() == 3
    screenshot("states-sync-now-all-under-way")


def test_record_counts_say_which_side_each_count_is_from(live_server, page, admin_user, sandbox, screenshot):
    connect_to_sandbox(sandbox.hub.data_dir, sandbox.salesforce_url, sandbox.ews_endpoint, sandbox.graph_url)
    user, salesforce, outlook = person(sandbox)
    for number in range(3):
        salesforce.Contact.create({"FirstName": f"C{number}", "LastName": "Mine"})
    salesforce.Task.create({"Subject": "Call back", "Status": "Not Started"})
    outlook.create_event("Outlook meeting", soon(1), soon(1, 11))
    outlook.create_task("Outlook task")
    configuration = make_configuration(
        "Counted",
        data_settings={
            "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"},
            "events": {"direction": "outlook_to_salesforce", "conflict_behavior": "outlook_wins"},
            "tasks": {"direction": "outlook_to_salesforce", "conflict_behavior": "outlook_wins"},
        },
    )
    log_in(page, live_server, admin_user, f"/configurations/{configuration.pk}/")
    page.get_by_label("How many records would sync for this user?").fill(user.username)
    page.get_by_role("button", name="Count records").click()
    result = page.locator("#preview-result")
    expect(result.get_by_text("3 records: Salesforce contacts")).to_be_visible()
    expect(result.get_by_text("0 items: Outlook contacts in the folder 'Salesforce_Sync'")).to_be_visible()
    expect(result.get_by_text("1 item: Outlook events in the primary calendar")).to_be_visible()
    expect(result.get_by_text("1 item: Outlook tasks")).to_be_visible()
    expect(result.get_by_text("Salesforce tasks")).to_have_count(0)  # Outlook to Salesforce reads Outlook only
    screenshot("states-record-counts")
    page.set_viewport_size({"width": 390, "height": 844})
    result.scroll_into_view_if_needed()
    screenshot("states-record-counts-phone")
