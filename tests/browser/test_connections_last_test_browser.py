"""In Chromium: a connection's test on the Connections page is kept, so a colleague opening the page later sees the
failed test, its time and what to do (issue 18: a connection failing a test is alerted and shown)."""

import pytest
from playwright.sync_api import expect

from sync.connections import save_connection
from sync.models import Connection
from tests.browser.test_previews_journeys import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REFUSED = "Exchange refused the service account's password (401): enter it again on this page, then test again."


def test_a_failed_test_is_shown_to_the_next_person(live_server, page, browser, support_user, admin_user, monkeypatch):
    save_connection("exchange", secret="service-password", url="https://mail.example.com/EWS/Exchange.asmx",
                    username="svc-sync", auth_type="ntlm")
    monkeypatch.setattr("sync.connections._check", lambda kind: {"ok": False, "detail": REFUSED})
    log_in(page, live_server, support_user, "/sync/connections/")
    page.get_by_role("button", name="Test Exchange (EWS)").click()
    expect(page.get_by_text(REFUSED)).to_be_visible()
    assert Connection.objects.get(kind="exchange").last_test_ok is False

    context = browser.new_context()  # another person, another session
    other = context.new_page()
    try:
        log_in(other, live_server, admin_user, "/sync/connections/")
        card = other.locator(".alert-danger", has_text=REFUSED)
        expect(card).to_be_visible()
        expect(card.get_by_text("Last test:")).to_be_visible()
        card.scroll_into_view_if_needed()
        other.screenshot(path="/tmp/shots/t18-connection-last-test-failed.png", full_page=True)
    finally:
        context.close()
