"""In Chromium (issue 18, items 4 and 6): the users list's bulk actions (tick users, or every user matching the
filters; a confirmation that says how many; done), the assignments CSV import's per-line report, and the dashboard's
trends drawn by the vendored Chart.js under the strict Content-Security-Policy. Screenshots go to test-artifacts/
(and to SCREENSHOTS_DIR when set)."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from sync.models import SyncRun
from tests.conftest import PASSWORD
from tests.factories import make_configuration, make_user
from users.models import SyncUser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("enqueued")]

CONTACTS = {"contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}}


@pytest.fixture
def shoot(page, screenshot):
    extra = os.environ.get("SCREENSHOTS_DIR")

    def take(name: str) -> None:
        path = screenshot(f"t18-bulk-{name}")
        if extra:
            Path(extra).mkdir(parents=True, exist_ok=True)
            Path(extra, f"{name}.png").write_bytes(path.read_bytes())

    return take


@pytest.fixture
def problems(page):
    """What the page's console reports as errors (a script refused by the CSP would show here); the favicon's 404
    is no problem of these pages (a missing script shows as charts not drawn)."""
    seen: list[str] = []
    page.on("console", lambda message: seen.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text else None)
    page.on("pageerror", lambda error: seen.append(str(error)))
    return seen


def log_in(page, live_server, account, path="/"):
    page.goto(f"{live_server.url}{path}")
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}{path}")


@pytest.fixture
def team():
    sales = make_configuration("Sales", data_settings=CONTACTS)
    make_configuration("Support desk", data_settings=CONTACTS)
    reps = [make_user(f"rep{n}@example.com", name=f"Rep {n}", configuration=sales) for n in range(3)]
    return [*reps, make_user("lee@example.com", name="Lee Loner")]


def test_bulk_sync_of_ticked_users(page, live_server, admin_user, team, shoot, problems):
    log_in(page, live_server, admin_user, "/users/")
    page.get_by_label("Select rep0@example.com").check()
    page.get_by_label("Select rep1@example.com").check()
    expect(page.locator("#bulk-selected")).to_have_text("2 selected on this page, or")
    expect(page.get_by_label("Configuration to assign to")).to_be_hidden()  # only "assign" takes one
    shoot("list-ticked")
    page.get_by_role("button", name="Apply…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sync now for 2 users?")
    expect(page.locator(".bulk-users")).to_contain_text("Rep 0")
    shoot("confirm-sync")
    page.get_by_role("button", name="Sync 2 users now").click()
    page.wait_for_url(f"{live_server.url}/users/")
    expect(page.get_by_role("alert").first).to_contain_text("Sync queued for the 2 users selected.")
    shoot("sync-done")
    assert sorted(SyncRun.objects.values_list("user__username", flat=True)) == ["rep0@example.com",
                                                                                "rep1@example.com"]
    assert problems == []


def test_assign_every_user_matching_the_filters(page, live_server, admin_user, team, shoot):
    log_in(page, live_server, admin_user, "/users/?search=rep")
    page.get_by_label("Select every user on this page").check()  # ticks the page, then the whole filter instead
    page.get_by_label("all 3 users matching these filters").check()
    page.get_by_label("What to do with the selected users").select_option("assign")
    page.get_by_label("Configuration to assign to").select_option(label="Support desk")
    page.get_by_role("button", name="Apply…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Assign 3 users to Support desk?")
    shoot("confirm-assign")
    page.get_by_role("button", name="Assign 3 users").click()
    page.wait_for_url(f"{live_server.url}/users/?search=rep")
    expect(page.get_by_role("alert").first).to_contain_text("Assigned the 3 users selected to Support desk.")
    assert SyncUser.objects.filter(configuration__name="Support desk").count() == 3
    assert SyncUser.objects.get(username="lee@example.com").configuration is None  # not matched: untouched


def test_bulk_bar_on_a_phone(browser, live_server, admin_user, team):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    phone = context.new_page()
    try:
        log_in(phone, live_server, admin_user, "/users/")
        expect(phone.get_by_role("button", name="Apply…")).to_be_visible()
        path = Path(__file__).resolve().parents[2] / "test-artifacts" / "t18-bulk-list-phone.png"
        phone.screenshot(path=str(path), full_page=True)
        if os.environ.get("SCREENSHOTS_DIR"):
            Path(os.environ["SCREENSHOTS_DIR"], "list-phone.png").write_bytes(path.read_bytes())
    finally:
        context.close()


def test_csv_import_reports_each_line(page, live_server, admin_user, team, shoot, tmp_path):
    upload = tmp_path / "assignments.csv"
    upload.write_text("user,configuration\nlee@example.com,Sales\nrep0@example.com,Support desk\n"
                      "ghost@example.com,Sales\nrep1@example.com,Marketing\nlee@example.com,Sales\n")
    log_in(page, live_server, admin_user, "/users/")
    page.get_by_text("Assignments as CSV: export and import").click()
    expect(page.get_by_role("link", name="Sales", exact=True)).to_have_attribute("href", "/api/v1/configurations/"
                                                                                 f"{team[0].configuration_id}/users.csv")
    page.get_by_label("A CSV file").set_input_files(str(upload))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-summary")).to_contain_text("1 assigned, 1 moved from another configuration, "
                                                            "0 already so, 3 refused.")
    rows = page.locator(".import-report tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.nth(2)).to_contain_text("Unknown user 'ghost@example.com'")
    expect(rows.nth(3)).to_contain_text("Unknown configuration 'Marketing'")
    expect(rows.nth(4)).to_contain_text("Duplicate: line 2 assigns the same user")
    shoot("import-report")


def _history():
    user = make_user("ann@example.com", name="Ann")
    now = timezone.now()
    codes = ["ErrorServerBusy", "INVALID_SESSION_ID", "REQUEST_LIMIT_EXCEEDED"]
    for day in range(14):
        for n in range(3 + day % 4):
            failed = (n + day) % 5 == 0
            run = SyncRun.objects.create(
                user=user, object="contacts", trigger="schedule", state="failed" if failed else "succeeded",
                error_code=codes[(n + day) % 3] if failed else "",
                counts={"salesforce": {"create": n + day % 3}, "outlook": {"update": 2 * n}},
                api_calls={"salesforce": 40 + 5 * n, "exchange": 12},
                salesforce_api_used=20000 + 3000 * (13 - day), salesforce_api_allocation=100000)
            when = now - timedelta(days=day, minutes=n)
            SyncRun.objects.filter(pk=run.pk).update(created_at=when, started_at=when, finished_at=when)


def test_trends_charts_render(page, live_server, admin_user, shoot, problems):
    _history()
    log_in(page, live_server, admin_user, "/")
    for name in ("runs", "failures", "records", "api"):
        expect(page.locator(f"#trend-{name}")).to_have_attribute("data-drawn", "true")
    bars = page.evaluate("document.getElementById('trend-runs').chart.data.datasets.map(d => d.data.length)")
    assert bars == [14, 14]
    codes = page.evaluate("document.getElementById('trend-failures').chart.data.datasets.map(d => d.label)")
    assert set(codes) == {"ErrorServerBusy", "INVALID_SESSION_ID", "REQUEST_LIMIT_EXCEEDED"}
    # Something was drawn: the canvas is not blank.
    painted = page.evaluate("""() => {
        const c = document.getElementById('trend-records');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
    assert painted > 1000
    page.locator("#trends").scroll_into_view_if_needed()
    shoot("trends")
    page.locator("#trends").screenshot(path=str(Path(__file__).resolve().parents[2] / "test-artifacts"
                                                / "t18-bulk-trends-section.png"))
    if os.environ.get("SCREENSHOTS_DIR"):
        Path(os.environ["SCREENSHOTS_DIR"], "trends-section.png").write_bytes(
            (Path(__file__).resolve().parents[2] / "test-artifacts" / "t18-bulk-trends-section.png").read_bytes())
    assert problems == []
