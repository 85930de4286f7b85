"""In Chromium: the dashboard during an Exchange outage (the EWS card fails, Salesforce stays well, every count and
group leads to its filtered list), the run and user pages following a run to its end without a reload, the user
page on a phone, and the configuration page with every saved setting (issue 15, items 7, 8, 9, 12). Screenshots go
to test-artifacts/ (and to SCREENSHOTS_DIR when set)."""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from sync.models import Connection, RecordError, SyncRun
from tests.conftest import PASSWORD
from tests.factories import make_configuration, make_user
from users.models import SyncUser, UserObjectState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SETTINGS = {
    "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"},
    "events": {"direction": "salesforce_to_outlook", "conflict_behavior": "salesforce_wins"},
    "tasks": {"direction": "none", "conflict_behavior": "salesforce_wins"},
}
BUSY = (
    "Exchange (EWS) answered HTTP 503: the server is unavailable. The sync tries again later; if it lasts, check "
    "the Exchange server."
)


@pytest.fixture
def shoot(page, screenshot):
    """Full-page screenshots into test-artifacts/ and, when SCREENSHOTS_DIR is set, there as well."""
    extra = os.environ.get("SCREENSHOTS_DIR")

    def take(name: str) -> None:
        path = screenshot(f"pages-{name}")
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            Path(extra, f"{name}.png").write_bytes(path.read_bytes())

    return take


def log_in(page, live_server, account, path="/"):
    page.goto(f"{live_server.url}{path}")
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}{path}")


@pytest.fixture
def outage():
    """Eight users on EWS: every run of the last hour failed on Exchange's answer (HTTP 503), Salesforce answered
    them all; an hour and more ago both ends were well. Two users need attention for their folder."""
    Connection.objects.create(kind="salesforce", url="https://login.example.com", username="integration@x.test")
    Connection.objects.create(kind="exchange", url="https://mail.example.com/EWS/Exchange.asmx")
    configuration = make_configuration("Sales", data_settings=SETTINGS)
    now = timezone.now()
    users = [make_user(f"rep{n}@example.com", name=f"Rep {n:02d}", configuration=configuration) for n in range(8)]
    for number, user in enumerate(users):
        earlier = SyncRun.objects.create(
            user=user,
            object="contacts",
            trigger="schedule",
            state="succeeded",
            exchange_protocol="ews",
            api_calls={"salesforce": 2, "exchange": 3},
            counts={"salesforce": {"update": 1}, "outlook": {"create": 2}},
        )
        SyncRun.objects.filter(pk=earlier.pk).update(
            created_at=now - timedelta(minutes=95), finished_at=now - timedelta(minutes=94)
        )
        failed = SyncRun.objects.create(
            user=user,
            object="contacts",
            trigger="schedule",
            state="failed",
            exchange_protocol="ews",
            api_calls={"salesforce": 2, "exchange": 1},
            error_code="HTTP_503",
            error_end="exchange",
            error_message=BUSY,
        )
        SyncRun.objects.filter(pk=failed.pk).update(
            created_at=now - timedelta(minutes=5), finished_at=now - timedelta(minutes=4)
        )
        code, message, state = (
            ("HTTP_503", BUSY, "error")
            if number >= 2
            else (
                "contacts_folder_missing",
                "The contacts folder 'Salesforce_Sync' is missing from the mailbox. Reset "
                "the user's contacts to create it again.",
                "needs_attention",
            )
        )
        UserObjectState.objects.filter(user=user, object="contacts").update(
            state=state,
            consecutive_failures=2,
            last_error_code=code,
            last_error_message=message,
            last_run_at=now - timedelta(minutes=4),
        )
        UserObjectState.objects.filter(user=user, object="events").update(state="in_sync")
    return {"users": users, "earlier": earlier, "failed": failed}


def test_the_dashboard_shows_an_exchange_outage_and_leads_to_the_lists(live_server, page, admin_user, outage, shoot):
    log_in(page, live_server, admin_user)
    ews = page.locator("#end-ews")
    expect(ews.get_by_text("Failing", exact=True)).to_be_visible()
    expect(ews.get_by_text("8 of 8 runs")).to_be_visible()
    expect(ews.get_by_text("HTTP_503")).to_be_visible()
    salesforce = page.locator("#end-salesforce")
    expect(salesforce.get_by_text("OK", exact=True)).to_be_visible()
    expect(salesforce.get_by_text("0 of 8 runs")).to_be_visible()
    expect(
        salesforce.get_by_text(re.compile(r"Last answered a run without error (\d+ minutes? ago|just now)"))
    ).to_be_visible()
    expect(ews.get_by_text(re.compile(r"Last answered a run without error (1 hour|\d+ minutes) ago"))).to_be_visible()
    expect(page.locator("#end-graph")).to_have_count(0)  # no Graph connection, no Graph run: not shown
    # No raw ISO time anywhere on the page; each time has its exact value on hover.
    body = page.locator("main").inner_text()
    assert not re.search(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d", body), body
    expect(ews.locator("time[title]")).to_have_count(1)

    groups = page.locator(".error-group")
    expect(groups).to_have_count(2)
    expect(groups.first).to_contain_text("contacts_folder_missing")  # a person must act: first
    expect(groups.first).to_contain_text("2 users, 2 objects")
    expect(groups.nth(1)).to_contain_text("HTTP_503")
    expect(groups.nth(1)).to_contain_text("6 users, 6 objects")
    expect(groups.nth(1).get_by_role("link", name="and 1 more")).to_be_visible()
    page.set_viewport_size({"width": 1280, "height": 1000})
    shoot("dashboard-exchange-outage")

    # A state count opens the users list with that filter.
    page.get_by_role("link", name="6 Error: list the users").click()
    page.wait_for_url(re.compile(r".*/users/\?state=error$"))
    expect(page.locator("table.users-table tbody tr")).to_have_count(6)
    page.go_back()

    # A failing user opens their page.
    page.locator(".error-group").first.get_by_role("link", name="Rep 00").click()
    page.wait_for_url(f"{live_server.url}/users/{outage['users'][0].pk}/")
    expect(page.get_by_role("heading", name="Rep 00")).to_be_visible()
    page.go_back()

    # "n failed" opens the failed runs; a bar of the chart opens the runs queued in its hour.
    page.get_by_role("link", name="8 failed", exact=True).click()
    page.wait_for_url(re.compile(r".*/sync/runs/\?state=failed$"))
    expect(page.get_by_text("8 runs match the filters")).to_be_visible()
    page.go_back()
    page.locator(".run-chart").first.locator("a.run-bar").last.click()
    page.wait_for_url(re.compile(r".*/sync/runs/\?hour=.*"))
    expect(page.locator("#hour-filter")).to_contain_text("Runs queued between")
    queued_now = SyncRun.objects.filter(created_at__gte=timezone.now().replace(minute=0, second=0, microsecond=0))
    expect(page.locator("table tbody tr")).to_have_count(queued_now.count())


def test_the_run_and_user_pages_follow_a_run_to_its_end(live_server, page, support_user, shoot):
    configuration = make_configuration("Sales", data_settings=SETTINGS)
    ann = make_user("ann@example.com", name="Ann Archer", configuration=configuration)
    running = SyncRun.objects.create(
        user=ann,
        object="contacts",
        trigger="manual",
        state="running",
        full=True,
        exchange_protocol="ews",
        progress_done=40,
        progress_total=87,
        started_at=timezone.now(),
    )
    log_in(page, live_server, support_user, f"/users/{ann.pk}/")
    row = page.locator("#user-sync table tbody tr").filter(has_text=f"Run {running.pk}")
    expect(row.get_by_text("Running")).to_be_visible()
    expect(page.get_by_role("heading", name="Sync in progress")).to_be_visible()

    SyncRun.objects.filter(pk=running.pk).update(
        state="succeeded",
        finished_at=timezone.now(),
        progress_done=87,
        counts={"salesforce": {}, "outlook": {"create": 87}, "links": 87, "unlinked": 0, "conflicts": 0},
        api_calls={"salesforce": 3, "exchange": 2},
    )
    UserObjectState.objects.filter(user=ann, object="contacts").update(state="in_sync", last_success_at=timezone.now())
    # No reload: the bar's last answer makes the runs table and the object cards refresh themselves.
    expect(row.get_by_text("Succeeded")).to_be_visible(timeout=8000)
    expect(page.get_by_role("heading", name="Sync in progress")).to_have_count(0)
    expect(page.locator(".object-card").first.get_by_text("In sync")).to_be_visible()
    expect(page.locator(".object-card").first.get_by_text("just now")).to_be_visible()

    # The run page of a second run, followed to its end: the counts appear in place.
    second = SyncRun.objects.create(
        user=ann,
        object="events",
        trigger="manual",
        state="running",
        exchange_protocol="ews",
        progress_done=1,
        progress_total=4,
        started_at=timezone.now(),
    )
    page.goto(f"{live_server.url}/sync/runs/{second.pk}/")
    expect(page.locator("#counts-note")).to_have_text("The counts appear when the run ends.")
    expect(page.locator("#errors-note")).to_have_text("None so far.")
    SyncRun.objects.filter(pk=second.pk).update(
        state="succeeded",
        finished_at=timezone.now(),
        progress_done=4,
        counts={"salesforce": {"create": 1}, "outlook": {"create": 3}, "links": 4, "unlinked": 0, "conflicts": 0},
    )
    expect(page.get_by_text("Pairs linked (created or matched): 4")).to_be_visible(timeout=8000)
    expect(page.locator("#errors-note")).to_have_text("None: every record of this run was written.")
    shoot("run-page-finished")

    page.goto(f"{live_server.url}/sync/runs/{running.pk}/")
    expect(page.get_by_text("Pairs linked (created or matched): 87")).to_be_visible()


def test_a_failed_run_says_it_wrote_nothing(live_server, page, support_user, shoot):
    ann = make_user("ann@example.com", name="Ann Archer")
    failed = SyncRun.objects.create(
        user=ann,
        object="contacts",
        trigger="schedule",
        state="failed",
        exchange_protocol="ews",
        api_calls={"salesforce": 2, "exchange": 1},
        started_at=timezone.now(),
        finished_at=timezone.now(),
        error_code="HTTP_503",
        error_end="exchange",
        error_message=BUSY,
    )
    log_in(page, live_server, support_user, f"/sync/runs/{failed.pk}/")
    expect(page.get_by_text("The run failed on Exchange (EWS):")).to_be_visible()
    expect(page.locator("#counts-note")).to_have_text("Nothing was written: the run stopped before its first write.")
    expect(page.locator("#errors-note")).to_contain_text("the run stopped as a whole")
    expect(page.get_by_text("every record of this run was written")).to_have_count(0)
    shoot("run-page-failed")


def test_the_user_page_fits_a_phone(live_server, page, admin_user, outage, shoot):
    user = outage["users"][3]
    # Long names without a space to break at, as real directories have them.
    SyncUser.objects.filter(pk=user.pk).update(
        username="maximiliane.oberhuber-lindqvist@emea.sales.example-corporation.com",
        email="maximiliane.oberhuber-lindqvist@emea.sales.example-corporation.com",
        profile="Custom: Sales Operations Manager (EMEA North)",
    )
    user.refresh_from_db()
    SyncRun.objects.create(user=user, object="events", trigger="manual", state="queued")
    RecordError.objects.create(
        run=outage["failed"]
        if outage["failed"].user_id == user.pk
        else SyncRun.objects.filter(user=user, state="failed").first(),
        side="outlook",
        record_id="AAMkAGI2TG93AAA=" + "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789" * 3,
        code="ErrorInvalidPropertyValue",
        message="The e-mail address of the contact is not valid for Exchange.",
    )
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, admin_user, f"/users/{user.pk}/")  # an admin also sees the mailbox's routing
    expect(page.get_by_role("heading", name=user.name)).to_be_visible()
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("heading", name="Connection test")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    shoot("user-page-phone")
    if os.environ.get("SCREENSHOTS_DIR"):  # the runs and record errors, as the phone shows them
        page.locator("#runs-heading").scroll_into_view_if_needed()
        page.screenshot(path=str(Path(os.environ["SCREENSHOTS_DIR"], "user-page-phone-runs.png")))
    assert overflow <= 0, f"the page is {overflow}px wider than the phone's screen"


def test_the_configuration_page_shows_every_saved_setting(live_server, page, support_user, shoot):
    configuration = make_configuration(
        "Sales EMEA",
        sync_interval_minutes=1,
        description="Account managers in Europe.",
        profiles=["Sales Rep"],
        data_settings={
            "contacts": {
                "direction": "both",
                "conflict_behavior": "outlook_wins",
                "folder": "CRM contacts",
                "excluded_addresses": ["ceo@example.com", "competitor.example"],
            },
            "events": {
                "direction": "both",
                "conflict_behavior": "salesforce_wins",
                "sync_private_events": True,
                "event_scope": "category",
                "event_category": "Salesforce",
                "auto_relate": True,
                "propagate_deletions": False,
                "excluded_addresses": ["noreply@example.com"],
            },
            "tasks": {"direction": "salesforce_to_outlook", "conflict_behavior": "salesforce_wins"},
        },
        data_sets={
            "contacts": {
                "scope": "my_contacts",
                "record_limit": 5000,
                "filters": [
                    {"field": "MailingCountry", "op": "in", "value": ["France", "Spain"]},
                    {"field": "Email", "op": "is_empty", "value": False},
                    {"field": "Title", "op": "contains", "value": "Director"},
                ],
            },
            "events": {"days_back": 1, "days_ahead": 90},
            "tasks": {"closed_days_back": 1},
        },
    )
    log_in(page, live_server, support_user, f"/configurations/{configuration.pk}/")
    expect(page.get_by_text("every minute while a change feed is down")).to_be_visible()  # near real time
    contacts = page.locator(".card").filter(has=page.get_by_role("heading", name="Contacts"))
    filters = contacts.locator(".filter-list li")
    expect(filters).to_have_count(3)  # one filter per line
    expect(filters.nth(0)).to_contain_text("(MailingCountry) is one of “France”, “Spain”")
    expect(filters.nth(1)).to_have_text("Email is not empty")
    expect(contacts.get_by_text("ceo@example.com")).to_be_visible()
    expect(contacts.get_by_text("competitor.example")).to_be_visible()
    expect(contacts.get_by_text("5000 records")).to_be_visible()
    expect(contacts.get_by_text("CRM contacts")).to_be_visible()
    events = page.locator(".card").filter(has=page.get_by_role("heading", name="Events"))
    expect(events.get_by_text("Relate to attendees")).to_be_visible()
    expect(events.get_by_text("yes: events written to Salesforce are related")).to_be_visible()
    expect(events.get_by_text("ending in the last 1 day, starting in the next 90 days")).to_be_visible()
    expect(events.get_by_text("noreply@example.com")).to_be_visible()
    expect(events.get_by_text("only events in the Outlook category “Salesforce”")).to_be_visible()
    tasks = page.locator(".card").filter(has=page.get_by_role("heading", name="Tasks"))
    expect(tasks.get_by_text("closed tasks due in the last 1 day")).to_be_visible()
    assert "1 minutes" not in page.content() and "1 days" not in page.content()
    shoot("configuration-every-setting")
