"""Every kind of page works under the Content-Security-Policy: Chromium reports no violation on the console's pages
(with htmx at work), the admin, the browsable API, /api/docs/ (Swagger UI from the sidecar files) and the lockout
page."""

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.factories import make_configuration, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Chromium fires `securitypolicyviolation` for every refused load, inline script, style or eval; the page records
# them before any of its own scripts run (an init script is not subject to the policy).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(
  `${e.violatedDirective} blocked ${e.blockedURI || "inline"} `
  + `at ${e.sourceFile || document.location.pathname}:${e.lineNumber}`));
"""


@pytest.fixture
def watched(page):
    """The page, and every policy violation seen (from the page's events and Chromium's console)."""
    seen = []
    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", lambda message: "Content Security Policy" in message.text and seen.append(message.text))

    def violations() -> list[str]:
        return seen + page.evaluate("window.__violations || []")

    page.violations = violations
    return page


def log_in(page, live_server, username):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def test_console_admin_and_api_pages_load_with_no_policy_violation(live_server, watched, admin_user):
    user = make_user(name="Ann Archer", username="ann@corp.example")
    configuration = make_configuration("Sales EMEA")
    page, checked = watched, {}
    log_in(page, live_server, admin_user.username)

    for path in ["/", "/configurations/", f"/configurations/{configuration.pk}/", "/users/", f"/users/{user.pk}/",
                 "/sync/runs/", "/sync/connections/", "/admin/", "/admin/configurations/outlookconfiguration/",
                 "/admin/users/syncuser/", "/api/v1/", "/api/v1/configurations/"]:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        checked[path] = page.violations()
    assert checked == {path: [] for path in checked}

    # htmx at work: live validation of the configuration form (a request and a swap, with the stale guard).
    page.goto(f"{live_server.url}/configurations/new/")
    contacts = page.get_by_role("region", name="Contacts")
    contacts.get_by_label("Direction").select_option("salesforce_to_outlook")
    expect(contacts.get_by_text("Outlook changes are never sent back, so Salesforce always wins.")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.querySelector('form[data-stale-guard]').dataset.sent") is not None
    assert page.violations() == []

    # Swagger UI: its bundle, its inline start-up script (with the nonce) and the schema it fetches.
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".opblock").first).to_be_visible(timeout=15000)
    page.wait_for_load_state("networkidle")
    assert page.violations() == []


def test_the_lockout_page_shows_with_no_policy_violation(live_server, watched, admin_user, screenshot):
    page = watched
    from django.conf import settings

    page.goto(f"{live_server.url}/accounts/login/")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        page.get_by_label("Username").fill(admin_user.username)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()
        if page.get_by_role("heading", name="Too many failed logins").is_visible():
            break
        page.goto(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("heading", name="Too many failed logins")).to_be_visible()
    expect(page.get_by_text("Try again after")).to_be_visible()
    screenshot("locked-out")
    assert page.violations() == []
