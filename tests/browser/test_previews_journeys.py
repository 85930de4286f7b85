"""The dry run and the impact preview in Chromium: asked from the user page and the configuration pages, shown as
progress while no worker has computed them, then as the plan by name. The ends are in-memory sides; the worker is
this test, computing the preview while the page polls. Screenshots go to test-artifacts/."""

import pytest
from playwright.sync_api import expect

from sync.engine import Side
from sync.models import Preview
from sync.previews import compute_preview
from sync.runner import Clients
from tests.conftest import PASSWORD
from tests.factories import make_configuration, make_user
from tests.sync.test_runner import FakeEnd

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sent(monkeypatch):
    ids = []
    monkeypatch.setattr("sync.previews.send_preview", ids.append)
    return ids


@pytest.fixture
def ends():
    ends = Clients(salesforce=FakeEnd(Side.SALESFORCE), exchange=FakeEnd(Side.OUTLOOK))
    ends.salesforce.sides["contacts"].add({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"})
    ends.exchange.sides["contacts"].add({"first_name": "Bob", "last_name": "Ray", "email": "bob@example.com"})
    return ends


@pytest.fixture
def ben():
    configuration = make_configuration("Sales EMEA", data_settings={
        "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}})
    return make_user("ben@example.com", name="Ben Brook", email="ben@example.com", configuration=configuration)


def log_in(page, live_server, account, path):
    page.goto(f"{live_server.url}{path}")
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}{path}")


def test_support_dry_runs_a_user_and_reads_the_plan(live_server, page, support_user, ben, ends, sent, screenshot):
    log_in(page, live_server, support_user, f"/users/{ben.pk}/")
    page.get_by_role("button", name="Dry run").click()
    expect(page.get_by_text("Waiting for a worker…")).to_be_visible()
    screenshot("t18-dry-run-waiting")

    compute_preview(sent[0], clients=lambda user: ends)

    plan = page.locator("#dry-run")
    expect(plan.get_by_text("Ann Lee <ann@example.com>")).to_be_visible()
    expect(plan.get_by_role("cell", name="It is new in Outlook.")).to_be_visible()
    expect(plan.get_by_text("The contacts folder")).to_have_count(0)
    expect(page).to_have_url(f"{live_server.url}/users/{ben.pk}/")  # the plan came into the user page
    screenshot("t18-dry-run-plan")
    assert Preview.objects.get().state == Preview.State.DONE


def test_a_phone_shows_the_plan_stacked(live_server, browser, support_user, ben, ends, sent):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    phone = context.new_page()
    try:
        log_in(phone, live_server, support_user, f"/users/{ben.pk}/")
        phone.get_by_role("button", name="Dry run").click()
        expect(phone.get_by_text("Waiting for a worker…")).to_be_visible()
        compute_preview(sent[0], clients=lambda user: ends)
        expect(phone.locator("#dry-run").get_by_text("Bob Ray <bob@example.com>")).to_be_visible()
        phone.screenshot(path="/tmp/shots/t18-preview/dry-run-phone.png", full_page=True)
    finally:
        context.close()


def test_admin_previews_the_impact_of_an_edit_before_saving(live_server, page, admin_user, ben, ends, sent,
                                                            screenshot):
    configuration = ben.configuration
    log_in(page, live_server, admin_user, f"/configurations/{configuration.pk}/edit/")
    page.locator("#id_contacts-direction").select_option("salesforce_to_outlook")
    page.get_by_role("button", name="Preview the impact").click()
    expect(page.get_by_text("Waiting for a worker…")).to_be_visible()

    compute_preview(sent[0], clients=lambda user: ends)

    preview = page.locator("#impact-preview")
    expect(preview.get_by_text("1 user affected.")).to_be_visible()
    expect(preview.get_by_text("Ann Lee <ann@example.com>")).to_be_visible()
    expect(page.locator("#id_contacts-direction")).to_have_value("salesforce_to_outlook")  # the form kept its edit
    screenshot("t18-impact-edit")
    configuration.refresh_from_db()
    assert configuration.data_settings.get(object="contacts").direction == "both"  # nothing was saved
    assert Preview.objects.get().request["change"]["data_settings"]["contacts"]["direction"] == \
        "salesforce_to_outlook"


def test_admin_previews_deleting_the_configuration(live_server, page, admin_user, ben, ends, sent, screenshot):
    configuration = ben.configuration
    log_in(page, live_server, admin_user, f"/configurations/{configuration.pk}/delete/")
    page.get_by_role("button", name="Preview the impact").click()
    expect(page.get_by_text("Waiting for a worker…")).to_be_visible()
    compute_preview(sent[0], clients=lambda user: ends)
    expect(page.locator("#impact-preview").get_by_text("1 user affected.")).to_be_visible()
    screenshot("t18-impact-delete")
