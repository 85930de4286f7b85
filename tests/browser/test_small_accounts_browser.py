"""Issue 15 item 12 in Chromium: an admin creates a support account on the Accounts page and reads its generated
password once; logging out says so; the new support engineer logs in with it, and a page for admins tells them their
role and the role it needs. Assigning users shows its message where the page is scrolled to.

Screenshots go to test-artifacts/ (and to SMALL_SHOTS, when set, for the closing note)."""

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.factories import make_configuration, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("SMALL_SHOTS")


def _shot(page, screenshot, name: str) -> None:
    screenshot(name)
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def _log_in(page, live_server, username: str, password: str, then: str = "/") -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}{then}")


def test_an_admin_creates_a_support_account_who_logs_in_with_it(
    live_server, page, admin_user, support_user, screenshot
):
    _log_in(page, live_server, admin_user.username, PASSWORD)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Accounts").click()
    expect(page.get_by_role("heading", name="Accounts", exact=True)).to_be_visible()
    page.get_by_label("Username").fill("sue.support")
    page.get_by_label("E-mail address (optional)").fill("sue@example.com")
    page.get_by_label("Role", exact=True).select_option("support")
    page.get_by_role("button", name="Add account").click()
    status = page.get_by_role("status")
    expect(status).to_contain_text("Account sue.support created with the support role")
    password = page.get_by_label("Password", exact=True).input_value()
    assert len(password) >= 16
    expect(page.get_by_role("row", name=re.compile("sue.support"))).to_contain_text("Active")
    _shot(page, screenshot, "accounts-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, screenshot, "accounts-390")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.reload()  # shown once: a new request does not show it again
    expect(page.get_by_role("status")).to_have_count(0)
    assert password not in page.content()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/")
    expect(page.get_by_role("alert")).to_contain_text("You are logged out.")

    _log_in(page, live_server, "sue.support", password)
    page.goto(f"{live_server.url}/accounts/")
    expect(page.get_by_role("heading", name="You do not have access to this page")).to_be_visible()
    expect(page.get_by_text("with the support role; this page needs the admin role.")).to_be_visible()
    _shot(page, screenshot, "forbidden-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, screenshot, "forbidden-390")


def test_the_assignment_message_is_on_screen_after_assigning(live_server, page, admin_user):
    configuration = make_configuration("Sales EMEA", profiles=["Sales Rep"])
    for number in range(25):  # enough users above the form that the section is far down the page
        make_user(f"rep{number}@example.com", profile="Sales Rep", name=f"Rep {number}")
    make_user("newcomer@example.com", name="Nora Newcomer")
    _log_in(page, live_server, admin_user.username, PASSWORD)
    page.goto(f"{live_server.url}/configurations/{configuration.pk}/?q=Nora#assignment")
    page.get_by_label("Select Nora Newcomer").check()
    page.get_by_role("button", name="Assign selected to Sales EMEA").click()
    page.wait_for_url(re.compile(r"#assignment$"))
    message = page.get_by_role("alert").filter(has_text="1 user assigned.")
    expect(message).to_be_in_viewport()
