"""The change feeds' health where people look: the Connections page's section, the dashboard's card and chart of
Salesforce calls per hour, and GET /api/v1/feeds/ (every API role reads it; nobody else)."""

import json
from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from lxml import html

from sync.feeds.coverage import LISTENER_KEY
from sync.feeds.health import LISTENER_DOWN
from sync.models import ChangeFeed, MailboxSubscription, SyncRun
from tests.factories import make_user

pytestmark = pytest.mark.django_db
FEEDS_API = "/api/v1/feeds/"
REFUSED = ("The integration user sync@example.com may not read the Contact records the org feed needs. Give "
           "sync@example.com the View All Data permission.")


@pytest.fixture
def feeds():
    """A running listener, a healthy contacts feed, a failed events feed and a failed EWS subscription."""
    now = timezone.now()
    ChangeFeed.objects.create(kind=ChangeFeed.Kind.LISTENER, key=LISTENER_KEY, heartbeat_at=now,
                              lease_owner="worker-host:77", state=ChangeFeed.State.HEALTHY)
    hour = now.astimezone(UTC).strftime("%Y-%m-%dT%H")
    ChangeFeed.objects.create(kind=ChangeFeed.Kind.SALESFORCE, key="contacts", state=ChangeFeed.State.HEALTHY,
                              last_poll_at=now, lag_seconds=3.0, api_calls=40, cursor={"calls_by_hour": {hour: 7}})
    ChangeFeed.objects.create(kind=ChangeFeed.Kind.SALESFORCE, key="events", state=ChangeFeed.State.FAILED,
                              last_poll_at=now, error_code="INSUFFICIENT_ACCESS", error_message=REFUSED,
                              failed_since=now - timedelta(minutes=15))
    user = make_user("mona@example.com", name="Mona Mailbox")
    MailboxSubscription.objects.create(user=user, object="contacts", protocol="ews", subscription_id="a")
    MailboxSubscription.objects.create(user=user, object="events", protocol="ews",
                                       state=MailboxSubscription.State.FAILED,
                                       error_message="Exchange refused the subscription: the mailbox is full.")
    SyncRun.objects.create(user=user, object="contacts", trigger="change", state="succeeded", finished_at=now,
                           api_calls={"salesforce": 2}, salesforce_api_allocation=96_000, salesforce_api_used=10)
    return now


def text_of(response, xpath: str) -> str:
    return " ".join(" ".join(html.fromstring(response.content).xpath(xpath + "//text()")).split())


@pytest.mark.parametrize("role", ["admin_user", "support_user"])
def test_connections_page_shows_the_feeds_to_admin_and_support(client, request, role, feeds):
    client.force_login(request.getfixturevalue(role))
    response = client.get("/sync/connections/")
    assert response.status_code == 200
    section = text_of(response, "//section[@id='feeds']")
    assert "Change feeds" in section and "2 problems" in section
    assert "The listener is running (worker-host:77)" in section
    contacts = text_of(response, "//tr[@id='feed-salesforce-contacts']")
    assert "Healthy" in contacts and "3 s" in contacts and "40" in contacts
    assert "Failed" in text_of(response, "//tr[@id='feed-salesforce-events']")
    assert REFUSED in section and "failing since" in section
    ews = text_of(response, "//tr[@id='subscriptions-ews']")
    assert "1 active" in ews and "1 failed" in ews
    assert "Mona Mailbox" in section and "the mailbox is full" in section


def test_connections_page_says_the_listener_is_not_running(client, support_user):
    client.force_login(support_user)
    section = text_of(client.get("/sync/connections/"), "//section[@id='feeds']")
    assert LISTENER_DOWN in section and "Not running" in section


def test_dashboard_card_and_the_chart_data(client, admin_user, feeds):
    client.force_login(admin_user)
    response = client.get("/")
    assert response.status_code == 200
    card = text_of(response, "//section[@id='feeds']")
    assert "Running" in text_of(response, "//div[@id='feed-listener']")
    assert "Failed Events" in text_of(response, "//div[@id='feed-salesforce']")
    assert "1 active 1 failed" in text_of(response, "//li[@id='feed-subscriptions-ews']")
    assert REFUSED in card  # the problem, in words, over the cards
    assert "2 by sync runs and 7 by the org feed" in card
    assert "of the 4000 calls an hour" in card
    document = html.fromstring(response.content)
    [script] = document.xpath("//script[@id='feed-calls-data']")
    assert script.get("type") == "application/json"  # data, not code: the page runs script files only
    data = json.loads(script.text)
    assert len(data["labels"]) == 24 and data["labels"][-1].endswith("Z")
    assert data["runs"][-1] == 2 and data["feed"][-1] == 7 and data["hourly_share"] == 4000.0
    assert document.xpath("//canvas[@data-feed-chart='calls']")
    assert document.xpath("//script[contains(@src, 'syncadmin/feeds-chart.js')]")


def test_dashboard_without_any_feed_or_allocation(client, support_user):
    client.force_login(support_user)
    response = client.get("/")
    card = text_of(response, "//section[@id='feeds']")
    assert LISTENER_DOWN in card
    assert "No sync has reported the org's daily allocation yet" in card


@pytest.mark.parametrize("caller", ["admin_client_api", "support_client_api", "api_client"])
def test_every_api_role_reads_the_feeds(request, caller, feeds):
    response = request.getfixturevalue(caller).get(FEEDS_API)
    assert response.status_code == 200
    body = response.json()
    assert body["listener"]["alive"] is True and body["listener"]["state"] == "running"
    assert body["listener"]["lease_owner"] == "worker-host:77"
    events = next(feed for feed in body["salesforce"] if feed["object"] == "events")
    assert events["state"] == "failed" and events["message"].startswith(REFUSED)
    assert events["error_code"] == "INSUFFICIENT_ACCESS" and events["failed_since"].endswith("Z")
    assert body["subscriptions"]["ews"]["active"] == 1 and body["subscriptions"]["ews"]["failed"] == 1
    assert body["subscriptions"]["ews"]["objects"]["events"] == {"label": "Events", "active": 0, "failed": 1}
    assert body["subscription_errors"][0]["user"] == "Mona Mailbox"
    assert body["ok"] is False and len(body["problems"]) == 2
    assert "badge" not in body["listener"]  # the page's colours are not the API's business
    assert body["graph_notifications"] == {"url_set": False, "url": ""}


def test_anonymous_and_roleless_callers_are_refused(anonymous_client, outsider_client_api):
    assert anonymous_client.get(FEEDS_API).status_code == 401
    assert outsider_client_api.get(FEEDS_API).status_code == 403


def test_the_feeds_endpoint_reads_only(admin_client_api):
    assert admin_client_api.post(FEEDS_API, {}, format="json").status_code == 405


def test_the_schema_documents_the_feeds_endpoint(admin_client_api):
    schema = admin_client_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/feeds/"]["get"]
    reference = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    overview = schema["components"]["schemas"][reference.rsplit("/", 1)[1]]
    assert {"listener", "salesforce", "subscriptions", "graph_delta", "problems"} <= set(overview["properties"])
