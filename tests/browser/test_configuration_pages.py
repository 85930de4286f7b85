"""An admin creates a configuration in Chromium: directions fix the conflict behaviour as they are chosen."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.factories import make_configuration, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _log_in(page, live_server, account):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def test_admin_creates_a_configuration_with_directions_and_a_filter(live_server, page, admin_user, screenshot):
    from configurations.models import OutlookConfiguration
    from configurations.services import snapshot

    make_user(name="Ann Archer", username="ann@corp.example")
    make_user(name="Bob Baker", username="bob@corp.example")
    _log_in(page, live_server, admin_user)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Configurations").click()
    expect(page.get_by_role("heading", name="Configurations")).to_be_visible()
    page.get_by_role("link", name="New configuration").click()
    expect(page.get_by_role("heading", name="New configuration")).to_be_visible()

    page.get_by_label("Name", exact=True).fill("Sales EMEA")
    page.get_by_label("Salesforce profiles").fill("Sales User")
    contacts = page.get_by_role("region", name="Contacts")
    # Contacts never offer Outlook to Salesforce only.
    options = contacts.get_by_label("Direction").locator("option").all_inner_texts()
    assert options == ["Don't sync", "Salesforce to Outlook", "Both ways"]

    contacts.get_by_label("Direction").select_option("both")
    salesforce_wins = contacts.get_by_label("Salesforce wins")
    outlook_wins = contacts.get_by_label(re.compile("^Outlook wins"))
    expect(outlook_wins).to_be_enabled()
    outlook_wins.check()
    expect(contacts.get_by_label("Outlook contacts folder")).to_have_value("Salesforce_Sync")
    expect(contacts.get_by_text("this side's version is kept")).to_be_visible()

    # One way from Salesforce: Salesforce wins is fixed at once, and the page says why.
    contacts.get_by_label("Direction").select_option("salesforce_to_outlook")
    expect(contacts.get_by_label(re.compile("^Outlook wins"))).to_be_disabled()
    expect(contacts.get_by_label("Salesforce wins")).to_be_checked()
    expect(contacts.get_by_text("Outlook changes are never sent back, so Salesforce always wins.")).to_be_visible()
    expect(salesforce_wins).to_be_checked()

    events = page.get_by_role("region", name="Events")
    events.get_by_label("Direction").select_option("outlook_to_salesforce")
    expect(events.get_by_label("Outlook wins")).to_be_checked()
    expect(events.get_by_label(re.compile("^Salesforce wins"))).to_be_disabled()
    expect(events.get_by_text("Salesforce changes are never sent to Outlook, so Outlook always wins.")).to_be_visible()
    expect(page.get_by_role("region", name="Tasks").get_by_text("Nothing syncs")).to_be_visible()

    # A filter row, chosen from the allow-list; a wrong value is reported live, beside the value.
    contacts.get_by_role("button", name="Add filter to contacts").click()
    contacts.get_by_label("Contacts filter 1: field").select_option("Account.NumberOfEmployees")
    contacts.get_by_label("Contacts filter 1: operator").select_option("greater_than")
    contacts.get_by_label("Contacts filter 1: value").fill("many")
    contacts.get_by_label("Contacts filter 1: value").press("Tab")
    expect(contacts.get_by_text("Enter a whole number.")).to_be_visible()
    contacts.get_by_label("Contacts filter 1: value").fill("50")
    contacts.get_by_label("Contacts filter 1: value").press("Tab")
    expect(contacts.get_by_text("Enter a whole number.")).to_be_hidden()
    screenshot("configuration-form")

    page.get_by_role("button", name="Save configuration").click()
    expect(page.get_by_role("alert").get_by_text("Configuration “Sales EMEA” created.")).to_be_visible()
    saved = snapshot(OutlookConfiguration.objects.prefetch_related("data_settings", "data_sets").get())
    assert saved["data_settings"]["contacts"]["conflict_behavior"] == "salesforce_wins"
    assert saved["data_settings"]["events"]["conflict_behavior"] == "outlook_wins"
    assert saved["data_sets"]["contacts"]["filters"] == [
        {"field": "Account.NumberOfEmployees", "op": "greater_than", "value": "50"}
    ]

    # Assign two users found by search.
    with page.expect_response(lambda response: "/users/search/" in response.url):
        page.get_by_label("Search by name, username or e-mail").fill("corp.example")  # searched as one types
    page.wait_for_load_state("networkidle")  # no later swap of the results can undo the ticks below
    page.get_by_label("Select Ann Archer").check()
    page.get_by_label("Select Bob Baker").check()
    expect(page.get_by_label("Select Ann Archer")).to_be_checked()
    screenshot("configuration-assign-search")
    page.get_by_role("button", name="Assign selected to Sales EMEA").click()
    expect(page.get_by_text("2 users assigned.")).to_be_visible()
    expect(page.get_by_role("heading", name="Users (2)")).to_be_visible()
    screenshot("configuration-detail")

    # The record-count preview answers in place; with no Salesforce connection it says so.
    page.get_by_label("How many records would sync for this user?").fill("ann@corp.example")
    page.get_by_role("button", name="Count records").click()
    expect(page.get_by_text("No Salesforce connection to ask.").first).to_be_visible()
    assert "/preview/" not in page.url
    screenshot("configuration-preview")

    page.get_by_role("link", name="Configurations", exact=True).first.click()
    row = page.get_by_role("row").filter(has_text="Sales EMEA")
    expect(row.get_by_text("Contacts →")).to_be_visible()
    expect(row.get_by_text("Events ←")).to_be_visible()
    expect(row.get_by_text("Tasks —")).to_be_visible()
    expect(row.get_by_role("cell", name="2", exact=True)).to_be_visible()
    screenshot("configuration-list")
    page.set_viewport_size({"width": 820, "height": 1180})  # a tablet
    page.get_by_role("link", name="Sales EMEA").click()
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_role("heading", name="Edit “Sales EMEA”")).to_be_visible()
    screenshot("configuration-form-tablet")


def test_support_cannot_change_a_configuration(live_server, page, support_user, screenshot):
    configuration = make_configuration("Support view", data_settings={"tasks": {"direction": "both"}})
    _log_in(page, live_server, support_user)
    page.goto(f"{live_server.url}/configurations/{configuration.pk}/")
    expect(page.get_by_role("heading", name="Support view")).to_be_visible()
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    expect(page.get_by_role("link", name="Delete")).to_have_count(0)
    expect(page.get_by_text("Assign users")).to_have_count(0)
    screenshot("configuration-detail-support")
    page.goto(f"{live_server.url}/configurations/{configuration.pk}/edit/")
    expect(page.get_by_role("heading", name="You do not have access to this page")).to_be_visible()
