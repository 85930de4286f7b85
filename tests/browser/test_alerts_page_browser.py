"""Issue 18 item 5 in Chromium: an admin opens Alerts from the navigation, sets e-mail addresses and a webhook with
its secret, sees a refused webhook address explained beside its field, saves, and reads the alerts sent.

Screenshots go to test-artifacts/ (and to ALERTS_SHOTS, when set)."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from alerts.models import Alert, AlertSettings, Cause, Channel
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("ALERTS_SHOTS")


def _shot(page, screenshot, name: str) -> None:
    screenshot(name)
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def test_an_admin_sets_where_alerts_go_and_reads_the_alerts_sent(live_server, page, admin_user, screenshot):
    Alert.objects.create(cause=Cause.NEEDS_ATTENTION, cause_key="needs_attention:FOLDER_MISSING",
                         code="FOLDER_MISSING", subject="200 users need attention (FOLDER_MISSING)", body="b",
                         users=["ann@example.com"], user_count=200, channel=Channel.EMAIL,
                         recipients=["ops@example.com"], state=Alert.State.DELIVERED)
    Alert.objects.create(cause=Cause.CONNECTION_FAILED, cause_key="connection_failed:exchange:ErrorServerBusy",
                         code="ErrorServerBusy", subject="Exchange connection failing for 3 users (ErrorServerBusy)",
                         body="b", user_count=3, channel=Channel.WEBHOOK, recipients=["https://hooks.example.com/a"],
                         attempts=2, last_error="The webhook answered HTTP 503; it is tried again later.")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="No alerts are sent yet")).to_be_visible()

    page.get_by_label("E-mail addresses").fill("ops@example.com\noncall@example.com")
    page.get_by_label("Webhook URL").fill("https://169.254.169.254/latest/")
    page.get_by_label("Shared secret").fill("a shared secret of some length")
    page.get_by_label("Alert an error that lasts more than (minutes)").fill("30")
    page.get_by_role("button", name="Save alert settings").click()
    expect(page.get_by_label("Webhook URL")).to_have_class("form-control is-invalid")
    expect(page.locator("#id_webhook_url-error")).to_contain_text(
        "Alerts may not be sent there: 169.254.169.254 is a cloud metadata address.")
    assert AlertSettings.load().webhook_url == ""
    _shot(page, screenshot, "alerts-refused-1280")

    page.get_by_label("Webhook URL").fill("https://hooks.example.com/sync-alerts")
    page.get_by_label("Shared secret").fill("a shared secret of some length")
    page.get_by_role("button", name="Save alert settings").click()
    expect(page.get_by_role("alert").filter(has_text="The alert settings are saved")).to_be_visible()
    expect(page.get_by_text("A shared secret is saved.")).to_be_visible()
    expect(page.get_by_label("Shared secret")).to_have_value("")  # never shown again
    expect(page.get_by_label("E-mail addresses")).to_have_value("ops@example.com\noncall@example.com")
    row = AlertSettings.load()
    assert (row.webhook_url, row.after_minutes, row.has_secret) == ("https://hooks.example.com/sync-alerts", 30, True)

    log = page.get_by_role("table")
    expect(log.get_by_role("row").filter(has_text="200 users need attention")).to_contain_text("Delivered")
    expect(log.get_by_role("row").filter(has_text="Exchange connection failing")).to_contain_text("Retrying")
    _shot(page, screenshot, "alerts-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, screenshot, "alerts-390")
