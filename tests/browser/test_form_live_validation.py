"""The configuration form in Chromium is quiet until the admin acts: a field's error shows once it was touched, a new
filter row is not red, a field offers only the operators its type takes, and options that do nothing for the chosen
direction are not offered."""

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DATE_OPERATORS = [
    "equals",
    "does not equal",
    "is one of (comma-separated)",
    "is after",
    "is before",
    "is empty (true/false)",
]


def _log_in(page, live_server, account):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def _validated(page):
    """Waits for the live validation that the action inside the ``with`` block sends, and for its swap."""
    return page.expect_response(lambda response: "/validate/" in response.url)


def test_the_form_speaks_only_of_what_was_touched(live_server, page, admin_user, screenshot):
    _log_in(page, live_server, admin_user)
    page.goto(f"{live_server.url}/configurations/new/")
    expect(page.get_by_role("heading", name="New configuration")).to_be_visible()
    name = page.get_by_label("Name", exact=True)
    contacts = page.get_by_role("region", name="Contacts")
    events = page.get_by_role("region", name="Events")

    # A direction chosen before the name was reached: no word about the name yet.
    with _validated(page):
        contacts.get_by_label("Direction").select_option("both")
    expect(contacts.get_by_label("Outlook contacts folder")).to_have_value("Salesforce_Sync")
    expect(page.get_by_text("Enter a name.")).to_have_count(0)
    expect(page.locator("#form-error-summary")).to_have_count(0)

    # Leaving the name empty: now it is said, beside the name.
    name.focus()
    with _validated(page):
        name.press("Tab")
    expect(page.get_by_text("Enter a name.")).to_be_visible()
    expect(name).to_have_class(re.compile(r"\bis-invalid\b"))
    with _validated(page):
        name.fill("Quiet form")
        name.press("Tab")
    expect(page.get_by_text("Enter a name.")).to_have_count(0)

    # Relating events to attendees only where events are written to Salesforce; deletions said, not offered, where
    # they are not a choice.
    with _validated(page):
        events.get_by_label("Direction").select_option("salesforce_to_outlook")
    expect(events.get_by_label("Relate events to attendees' contacts or lead")).to_have_count(0)
    expect(events.get_by_label("Propagate deletions")).to_have_count(0)
    expect(events.get_by_text("A deletion in Salesforce always deletes the Outlook copy.")).to_be_visible()
    with _validated(page):
        events.get_by_label("Direction").select_option("both")
    expect(events.get_by_label("Relate events to attendees' contacts or lead")).to_be_visible()
    expect(events.get_by_label("Propagate deletions")).to_be_checked()  # as it was before the detour

    # A new filter row is not red and lists no allow-list.
    with _validated(page):
        contacts.get_by_role("button", name="Add filter to contacts").click()
    row = contacts.locator(".filter-row")
    expect(row).to_have_count(1)
    expect(row.locator(".is-invalid")).to_have_count(0)
    expect(row.locator(".invalid-feedback")).to_have_count(0)
    field = contacts.get_by_label("Contacts filter 1: field")
    operator = contacts.get_by_label("Contacts filter 1: operator")
    # Labels as Salesforce shows them, the API name as a hint.
    expect(field.locator("option[value='MailingCountry']")).to_have_text("Mailing Country · MailingCountry")

    # A text field takes text operators; then a date field: only the operators a date takes, and the operator
    # chosen for the text field (contains) gives way to the first of them.
    with _validated(page):
        field.select_option("Title")
    with _validated(page):
        operator.select_option("contains")
    with _validated(page):
        field.select_option("Birthdate")
    expect(operator.locator("option")).to_have_text(DATE_OPERATORS)
    expect(operator).to_have_value("equals")
    expect(row).to_have_count(1)
    expect(contacts.get_by_text("API name Birthdate · date")).to_be_visible()
    value = contacts.get_by_label("Contacts filter 1: value")
    expect(value).to_have_attribute("placeholder", "YYYY-MM-DD")
    with _validated(page):
        operator.select_option("greater_than")
    with _validated(page):
        value.fill("soon")
        value.press("Tab")
    expect(contacts.get_by_text("Enter a date as YYYY-MM-DD.")).to_be_visible()
    with _validated(page):
        value.fill("1980-01-01")
        value.press("Tab")
    expect(contacts.get_by_text("Enter a date as YYYY-MM-DD.")).to_have_count(0)
    expect(row).to_have_count(1)
    expect(page.locator(".is-invalid")).to_have_count(0)
    expect(value).to_have_css("border-color", "rgb(222, 226, 230)")  # no longer red, once its transition ends
    screenshot("configuration-form-quiet")

    # A second row, then the first removed: the blank row moves up and is still not red (what was touched in the
    # removed row does not follow its number).
    with _validated(page):
        contacts.get_by_role("button", name="Add filter to contacts").click()
    expect(row).to_have_count(2)
    with _validated(page):
        contacts.get_by_role("button", name="Remove contacts filter 1").click()
    expect(row).to_have_count(1)
    expect(field).to_have_value("")
    expect(row.locator(".is-invalid")).to_have_count(0)
    with _validated(page):
        contacts.get_by_role("button", name="Remove contacts filter 1").click()
    expect(row).to_have_count(0)

    page.get_by_role("button", name="Save configuration").click()
    expect(page.get_by_role("alert").get_by_text("Configuration “Quiet form” created.")).to_be_visible()


def test_saving_shows_every_error_at_once(live_server, page, admin_user, screenshot):
    """Touched or not, a save that cannot succeed says everything that stops it."""
    _log_in(page, live_server, admin_user)
    page.goto(f"{live_server.url}/configurations/new/")
    contacts = page.get_by_role("region", name="Contacts")
    with _validated(page):
        contacts.get_by_label("Direction").select_option("salesforce_to_outlook")
    with _validated(page):
        contacts.get_by_role("button", name="Add filter to contacts").click()
    with _validated(page):
        contacts.get_by_label("Contacts filter 1: field").select_option("Birthdate")
    page.get_by_role("button", name="Save configuration").click()
    expect(page.locator("#form-error-summary")).to_be_visible()
    expect(page.get_by_text("Enter a name.")).to_be_visible()
    expect(contacts.get_by_text("Enter a date as YYYY-MM-DD.")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("configuration-form-errors-phone")
