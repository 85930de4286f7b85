"""Issue 18 item 3 in Chromium: support staff open a user's page, find a record by e-mail in "Find a record", and
read the verdict and its reasons in sentences (a synced contact, then one the data set's filter leaves out, then a
search that finds several and an "Explain" that picks one). Against the sandbox; nothing is written to either end.
Screenshots go to /tmp/shots/t18-explorer/ (or $EXPLORER_SHOTS)."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from sandbox.services import connect_to_sandbox
from sync.models import SyncRun
from tests.conftest import PASSWORD
from tests.sync.test_explorer_service import BOTH, assigned, person, sync, writes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("EXPLORER_SHOTS", "/tmp/shots/t18-explorer"))


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    expect(page.get_by_role("button", name="Find and explain")).to_be_enabled()  # the request has settled
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def find(page, panel, text: str) -> None:
    panel.get_by_label("E-mail, name, subject or id").fill(text)
    # Wait for the answer (read live from both ends: slow on a loaded machine), not for the previous one to match.
    with page.expect_response(lambda response: "/records/" in response.url, timeout=30_000):
        panel.get_by_role("button", name="Find and explain").click()
    page.mouse.move(0, 0)  # no hover colour on the button in the screenshots


def log_in(page, live_server, account, then: str):
    page.goto(f"{live_server.url}{then}")
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}{then}")


def test_find_a_record_by_email_and_read_why(live_server, page, support_user, sandbox):
    connect_to_sandbox(sandbox.hub.data_dir, sandbox.salesforce_url, sandbox.ews_endpoint, sandbox.graph_url)
    user, salesforce, _ = person(sandbox, "Carla", "Console")
    assigned(user, data_settings={"contacts": BOTH},
             data_sets={"contacts": {"filters": [{"field": "MailingCountry", "op": "equals", "value": "France"}]}})
    salesforce.Contact.create({"FirstName": "Amélie", "LastName": "Paris", "Email": "amelie@example.fr",
                               "MailingCountry": "France"})
    salesforce.Contact.create({"FirstName": "Amelia", "LastName": "Madrid", "Email": "amelia@example.es",
                               "MailingCountry": "Spain"})
    assert sync(user, "contacts").state == SyncRun.State.SUCCEEDED
    before = writes(sandbox)

    log_in(page, live_server, support_user, f"/users/{user.pk}/")
    panel = page.locator("#find-record")
    expect(panel.get_by_role("heading", name="Find a record")).to_be_visible()
    find(page, panel, "amelie@example.fr")
    result = page.locator("#explorer-result")
    expect(result.locator(".badge", has_text="Linked")).to_be_visible()
    expect(result.get_by_text("It is synced: the Salesforce record and the Outlook item are linked.")).to_be_visible()
    expect(result.get_by_text("The contact was last synced at")).to_be_visible()
    panel.scroll_into_view_if_needed()
    shot(page, "explorer-linked")

    find(page, panel, "amelia@example.es")
    expect(result.locator(".badge", has_text="Out of scope")).to_be_visible()
    expect(result.get_by_text("It fails the data set's filter 1: MailingCountry equals France.")).to_be_visible()
    shot(page, "explorer-out-of-scope")

    find(page, panel, "Ame")
    expect(result.locator(".badge", has_text="Several found")).to_be_visible()
    expect(result.get_by_role("cell", name="Amelia Madrid")).to_be_visible()
    shot(page, "explorer-several")
    result.get_by_role("row", name="Amelia Madrid").get_by_role("link", name="Explain").click()
    expect(result.locator(".badge", has_text="Out of scope")).to_be_visible()

    page.set_viewport_size({"width": 390, "height": 844})
    find(page, panel, "amelie@example.fr")
    expect(result.locator(".badge", has_text="Linked")).to_be_visible()
    shot(page, "explorer-linked-phone")
    assert writes(sandbox) == before
