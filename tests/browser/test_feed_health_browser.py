"""In Chromium: the change feeds' health on the Connections page and the dashboard, and the chart of Salesforce calls
per hour drawn by the vendored Chart.js under the strict Content-Security-Policy, at a desktop and a phone width.
Screenshots go to test-artifacts/feeds-*.png."""

from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from sync.feeds.coverage import LISTENER_KEY
from sync.models import ChangeFeed, MailboxSubscription, SyncRun
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_t18_bulk_trends import log_in
from tests.factories import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def feeds():
    """A running listener, one feed per state worth seeing, subscriptions and a day of calls."""
    now = timezone.now()
    ChangeFeed.objects.create(kind=ChangeFeed.Kind.LISTENER, key=LISTENER_KEY, heartbeat_at=now,
                              lease_owner="listener-7f9c:31", state=ChangeFeed.State.HEALTHY)
    by_hour = {(now - timedelta(hours=n)).astimezone(UTC).strftime("%Y-%m-%dT%H"): 110 + 7 * (n % 5)
               for n in range(24)}
    ChangeFeed.objects.create(kind=ChangeFeed.Kind.SALESFORCE, key="contacts", state=ChangeFeed.State.HEALTHY,
                              last_poll_at=now, lag_seconds=2.4, last_change_at=now - timedelta(minutes=4),
                              api_calls=2650, cursor={"calls_by_hour": by_hour})
    ChangeFeed.objects.create(kind=ChangeFeed.Kind.SALESFORCE, key="events", state=ChangeFeed.State.BEHIND,
                              last_poll_at=now, lag_seconds=310.0, api_calls=980)
    ChangeFeed.objects.create(
        kind=ChangeFeed.Kind.SALESFORCE, key="tasks", state=ChangeFeed.State.FAILED, last_poll_at=now,
        failed_since=now - timedelta(minutes=25), error_code="INSUFFICIENT_ACCESS",
        error_message="The integration user amelia.hart@example.com may not read the Task records the org feed "
                      "needs. Give amelia.hart@example.com the View All Data permission (or a profile that sees "
                      "every synced record). Tasks sync at each configuration's interval until then.")
    ChangeFeed.objects.create(kind=ChangeFeed.Kind.GRAPH_DELTA, state=ChangeFeed.State.HEALTHY, last_poll_at=now,
                              lag_seconds=0.8, cursor={"objects": 4})
    users = [make_user(f"person{n}@example.com", name=f"Person {n}") for n in range(4)]
    for user in users:
        MailboxSubscription.objects.create(user=user, object="contacts", protocol="ews", subscription_id="s")
        MailboxSubscription.objects.create(user=user, object="events", protocol="graph", subscription_id="g",
                                           expires_at=now + timedelta(days=2))
    MailboxSubscription.objects.filter(user=users[0], object="events").update(
        state=MailboxSubscription.State.FAILED,
        error_message="Microsoft Graph refused the subscription (ExtensionError): the mailbox is not licensed "
                      "for Exchange Online. License it, or route it to EWS on its page.")
    for n in range(24):
        SyncRun.objects.create(user=users[n % 4], object="contacts", trigger="change", state="succeeded",
                               finished_at=now - timedelta(hours=n), api_calls={"salesforce": 20 + 3 * (n % 7)},
                               salesforce_api_allocation=15_000, salesforce_api_used=4_000)
    return now


@pytest.mark.parametrize("width", [1280, 390])
def test_feeds_health_pages(browser, live_server, admin_user, feeds, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    seen: list[str] = []
    page.on("pageerror", lambda error: seen.append(str(error)))
    try:
        log_in(page, live_server, admin_user, "/")
        canvas = page.locator("#feed-calls")
        expect(canvas).to_have_attribute("data-drawn", "true")
        datasets = page.evaluate("document.getElementById('feed-calls').chart.data.datasets.map(d => d.label)")
        assert datasets == ["Sync runs", "Org feed", "Hourly share of the daily allocation"]
        expect(page.locator("#feed-salesforce")).to_contain_text("Failed")
        page.locator("#feeds").screenshot(path=str(_artifact(f"feeds-dashboard-{width}")))
        page.goto(f"{live_server.url}/sync/connections/")
        section = page.locator("section#feeds")
        expect(section).to_contain_text("View All Data")
        expect(section).to_contain_text("not licensed for Exchange Online")
        section.screenshot(path=str(_artifact(f"feeds-connections-{width}")))
        # Nothing wider than the screen at phone width: the tables scroll inside their own box.
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        assert seen == []
    finally:
        context.close()


def _artifact(name: str):
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{name}.png"


@pytest.mark.parametrize("width", [1280, 390])
def test_configuration_form_offers_the_sync_mode(browser, live_server, admin_user, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        log_in(page, live_server, admin_user, "/configurations/new/")
        near_real_time = page.get_by_label("Near real time (changes sync within seconds", exact=False)
        expect(near_real_time).to_be_checked()
        with page.expect_response(lambda response: "/validate" in response.url):  # live validation redraws the form
            page.get_by_label("On a schedule (every N minutes)").check()
        page.wait_for_load_state("networkidle")
        expect(page.get_by_label("On a schedule (every N minutes)")).to_be_checked()  # kept through the redraw
        expect(near_real_time).not_to_be_checked()
        page.locator("section[aria-labelledby='general-heading']").screenshot(
            path=str(_artifact(f"feeds-configuration-form-{width}")))
    finally:
        context.close()
