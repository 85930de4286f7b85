"""What a user's page says after real runs against the sandbox (issue 15, items 3 and 4), in Chromium: a deleted
contacts folder is reported as missing (not re-created) after a configuration change, and a configuration that
narrowed the events' scope is named, with who changed it and when, in the guard's message.

Screenshots go to test-artifacts/ (causes-*.png)."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from configurations.services import update_configuration
from tests.conftest import PASSWORD
from tests.e2e import conftest as e2e
from tests.e2e.test_sync_user import last_run, sync
from users.services import effective_configuration

# The sandbox's fixtures (tests/e2e/conftest.py), for the runs these pages show.
sandbox, live_world = e2e.sandbox, e2e.live_world

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, account) -> None:
    page.goto(f"{live_server.url}/users/")
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/users/")


def configuration_of(person):
    return effective_configuration(person.sync_user).configuration


def test_a_deleted_folder_is_reported_after_a_configuration_change(
    live_server, page, live_world, support_user, admin_user, screenshot
):
    person = live_world.person()
    live_world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    for name in ("Ada", "Grace"):
        person.salesforce.Contact.create({"FirstName": name, "LastName": "Pioneer"})
    assert sync(person) == 0
    person.outlook._folder().delete()  # the user deletes Salesforce_Sync in Outlook
    update_configuration(
        configuration_of(person), {"data_sets": {"contacts": {"record_limit": 4000}}}, actor=admin_user
    )
    assert sync(person) == 1
    assert last_run(person, "contacts").full

    log_in(page, live_server, support_user)
    page.goto(f"{live_server.url}/users/{person.sync_user.pk}/")
    expect(page.get_by_text("Needs attention").first).to_be_visible()
    expect(
        page.get_by_text(re.compile("contacts folder 'Salesforce_Sync' is missing from the mailbox")).first
    ).to_be_visible()
    expect(page.get_by_text(re.compile("Reset the user.s contact sync")).first).to_be_visible()
    screenshot("causes-folder-missing")


def test_a_narrowed_configuration_is_named_in_the_guards_message(
    live_server, page, live_world, support_user, admin_user, screenshot
):
    person = live_world.person()
    live_world.configure(person, events={"direction": "both", "conflict_behavior": "salesforce_wins"})
    start = (timezone.now() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    for number in range(12):
        moment = start + timedelta(hours=number)
        person.outlook.create_event(f"Meeting {number}", moment, moment + timedelta(minutes=30))
    assert sync(person, "--objects", "events") == 0
    update_configuration(
        configuration_of(person),
        {"data_settings": {"events": {"event_scope": "category", "event_category": "Customer"}}},
        actor=admin_user,
    )
    assert sync(person, "--objects", "events") == 1
    run = last_run(person, "events")
    assert run.error_code == "guard_side_empty"
    for words in (
        "12 synced events",
        "event scope",
        "event category",
        "“Customer”",
        admin_user.username,
        "reset the user's events sync",
        "revert the change",
    ):
        assert words in run.error_message, run.error_message

    log_in(page, live_server, support_user)
    page.goto(f"{live_server.url}/users/{person.sync_user.pk}/")
    message = page.get_by_text(re.compile("would have removed 12 synced events")).first
    expect(message).to_be_visible()
    expect(message).to_contain_text(f"by {admin_user.username}")
    expect(message).to_contain_text("event category: none → “Customer”")
    screenshot("causes-guard-after-narrowing")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(message).to_be_visible()
    screenshot("causes-guard-after-narrowing-phone")


def test_the_connections_page_keeps_each_ends_latest_test(live_server, page, live_world, admin_user, screenshot):
    live_world.person()  # on EWS: no mailbox is routed to Graph
    page.goto(f"{live_server.url}/sync/connections/")
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    for label in ("Salesforce org", "Exchange (EWS)", "Exchange Online (Microsoft Graph)"):
        page.get_by_role("button", name=f"Test {label}", exact=True).click()
        expect(page.get_by_role("heading", name=label, exact=True)).to_be_visible()
    results = page.get_by_role("status")
    expect(results).to_have_count(3)
    expect(results.filter(has_text="Works.")).to_have_count(2)
    expect(results.filter(has_text="Not in use.")).to_have_count(1)
    expect(page.get_by_text("none: plain http (allowed to this machine only)")).to_be_visible()
    screenshot("causes-connections")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("causes-connections-phone")
