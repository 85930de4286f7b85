import pytest

from tests.conftest import PASSWORD
from tests.factories import make_user
from tests.sync.test_connections_api import private_key_pem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_logs_in_and_sees_the_dashboard(live_server, page, admin_user, screenshot):
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    screenshot("login")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    assert page.get_by_role("navigation", name="Main navigation").get_by_text("Configurations").is_visible()
    assert page.get_by_text("System health").is_visible()
    # Styles come from the app itself, not a CDN.
    assert page.evaluate("getComputedStyle(document.querySelector('.navbar')).backgroundColor") != "rgba(0, 0, 0, 0)"
    screenshot("dashboard")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/")


def test_wrong_password_is_refused_in_the_browser(live_server, page, admin_user):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").get_by_text("correct username and password").is_visible()


def test_dashboard_shows_the_sync_at_a_glance(live_server, page, admin_user, screenshot):
    from datetime import timedelta

    from django.utils import timezone

    from sync.models import SyncRun
    from users.models import UserObjectState
    from users.services import add_sync_user

    now = timezone.now()
    for n in range(6):
        user = add_sync_user({"salesforce_id": f"005{n:012d}", "username": f"p{n}@example.com",
                              "email": f"p{n}@example.com", "name": f"Person {n}"})
        UserObjectState.objects.filter(user=user).update(state="in_sync")
        for hour in range(0, 20, 3):
            run = SyncRun.objects.create(user=user, object="contacts", trigger="schedule",
                                         state="failed" if (n + hour) % 7 == 0 else "succeeded", finished_at=now,
                                         counts={"outlook": {"create": 3}, "salesforce": {"update": 1}})
            SyncRun.objects.filter(pk=run.pk).update(created_at=now - timedelta(hours=hour))
    UserObjectState.objects.filter(user__username="p1@example.com", object="contacts").update(
        state="needs_attention", last_error_message="The contacts folder 'Salesforce_Sync' is missing. Recreate it "
        "or reset the user's contact sync.")
    UserObjectState.objects.filter(user__username="p2@example.com", object="events").update(
        state="error", consecutive_failures=2, last_error_message="Salesforce answered 503; retried with back-off.")

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    failing = page.get_by_role("region", name="Failing users")
    assert failing.get_by_role("link", name="Person 1").is_visible()
    assert failing.get_by_text("Needs attention", exact=True).is_visible()
    assert page.get_by_role("group", name="Runs per hour over the last 24 hours").is_visible()
    screenshot("dashboard-with-data")


def test_connections_page_keeps_secrets_write_only(live_server, page, admin_user, screenshot):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Connections").click()
    salesforce = page.get_by_role("region", name="Salesforce org")
    salesforce.get_by_label("URL").fill("https://login.salesforce.com")
    salesforce.get_by_label("Integration user").fill("integration@example.com")
    salesforce.get_by_label("Consumer key").fill("3MVG9consumerkey")
    salesforce.get_by_label("Private key (PEM)").fill(private_key_pem())  # a real key: keys are checked
    salesforce.get_by_role("button", name="Save Salesforce org").click()
    page.wait_for_load_state()
    screenshot("connections-after-save")
    assert page.get_by_text("Salesforce org connection saved").is_visible()
    assert page.get_by_text("Secret stored").is_visible()
    assert private_key_pem().splitlines()[1] not in page.content()
    screenshot("connections")


def test_admin_sets_up_exchange_online_for_some_domains(live_server, page, admin_user, screenshot):
    make_user("ann@online.example.com", email="ann@online.example.com")
    make_user("bob@example.com", email="bob@example.com")
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/sync/connections/")
    graph = page.get_by_role("region", name="Exchange Online (Microsoft Graph)")
    assert graph.get_by_label("Graph URL").input_value() == "https://graph.microsoft.com"
    graph.get_by_label("Tenant").fill("contoso.onmicrosoft.com")
    graph.get_by_label("Application (client) id").fill("11111111-2222-3333-4444-555555555555")
    graph.get_by_label("Client secret or certificate").fill("graph-secret-value")
    graph.get_by_label("Mailboxes served").select_option("domains")
    graph.get_by_label("Mailbox domains").fill("online.example.com")
    graph.get_by_role("button", name="Save Exchange Online (Microsoft Graph)").click()
    page.wait_for_load_state()
    assert page.get_by_text("Exchange Online (Microsoft Graph) connection saved").is_visible()
    routing = page.get_by_role("region", name="Mailbox routing")
    assert routing.get_by_text("Mailboxes in online.example.com are served by Microsoft Graph").is_visible()
    assert "graph-secret-value" not in page.content()
    screenshot("connections-hybrid")


def test_keyboard_reaches_the_login_and_skip_link(live_server, page, admin_user):
    """Keyboard only: the login form starts in the username field, Tab moves on, Enter logs in; the first Tab on
    a console page offers to skip the navigation."""
    page.goto(f"{live_server.url}/accounts/login/")
    assert page.evaluate("document.activeElement.id") == "id_username"
    page.keyboard.type(admin_user.username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to main content"
