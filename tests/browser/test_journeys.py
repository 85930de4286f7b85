"""The main journeys in Chromium against the real service: the sandbox, a Celery worker and beat.

An admin creates a configuration, assigns a user by search and by profile, and sees them reach In sync; a support
user opens the user who is failing, reads the error, resets the user and watches the sync come back to In sync.
"""

import pytest
from playwright.sync_api import expect

from sandbox.runner import start_sandbox
from sandbox.services import connect_to_sandbox
from tests.conftest import PASSWORD
from tests.processes import celery_beat, celery_worker
from users.services import add_sync_user

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, account):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def reload_until(page, condition, what: str, seconds: int = 90) -> None:
    """Reload the page until `condition()` holds, as a person pressing F5 would."""
    for _ in range(seconds):
        if condition():
            return
        page.wait_for_timeout(1000)
        page.reload()
    raise AssertionError(f"waited {seconds} s for {what}")


def sandbox_user(running, name: str, profile: str):
    email = f"{name}@sandbox.test"
    created = running.hub.create_user(username=email, email=email, first_name=name.title(), last_name="Journey",
                                      profile=profile)
    return add_sync_user({"salesforce_id": created["salesforce_id"], "username": email, "email": email,
                          "name": f"{name.title()} Journey", "profile": profile})


def test_admin_configures_and_support_resets(live_server, page, admin_user, support_user, screenshot, tmp_path):
    running = start_sandbox(tmp_path / "sandbox", seed="empty")
    try:
        connect_to_sandbox(running.hub.data_dir, running.salesforce_url, running.ews_endpoint)
        ann = sandbox_user(running, "ann", "Standard User")
        sandbox_user(running, "bob", "Sales Manager")
        with celery_worker("sync,initial,default", concurrency=2, log_path=tmp_path / "worker.log"), \
                celery_beat(tmp_path / "beat-schedule", interval_seconds=2, log_path=tmp_path / "beat.log"):
            # The admin: a configuration for the Sales Manager profile, plus Ann assigned by search.
            log_in(page, live_server, admin_user)
            page.goto(f"{live_server.url}/configurations/new/")
            page.get_by_label("Name", exact=True).fill("Journey")
            page.get_by_label("Salesforce profiles").fill("Sales Manager")
            contacts = page.get_by_role("region", name="Contacts")
            contacts.get_by_label("Direction").select_option("both")
            page.get_by_role("button", name="Save configuration").click()
            expect(page.get_by_role("alert").get_by_text("created")).to_be_visible()
            with page.expect_response(lambda response: "/users/search/" in response.url):
                page.get_by_label("Search by name, username or e-mail").fill("ann")  # searched as one types
            page.wait_for_load_state("networkidle")  # no later swap of the results can undo the tick below
            page.get_by_label("Select Ann Journey").check()
            expect(page.get_by_label("Select Ann Journey")).to_be_checked()
            page.get_by_role("button", name="Assign selected to Journey").click()
            expect(page.get_by_role("alert")).to_contain_text("assigned")

            page.goto(f"{live_server.url}/users/")
            reload_until(page, lambda: all(
                page.get_by_role("row").filter(has_text=name).get_by_text("In sync").count()
                for name in ("Ann Journey", "Bob Journey")), "both users in sync")
            screenshot("journey-users-in-sync")
            page.get_by_role("button", name="Log out").click()

            # Something goes wrong for Ann: her sync folder is deleted in Outlook.
            import requests

            mailbox = requests.get(f"{running.exchange_url}/_sandbox/mailboxes/{ann.email}", timeout=10).json()
            folder = next(f for f in mailbox["folders"] if f.get("name") == "Salesforce_Sync")
            requests.delete(f"{running.exchange_url}/_sandbox/mailboxes/{ann.email}/folders/{folder['id']}",
                            timeout=10).raise_for_status()
            from users.operations import sync_now

            sync_now(ann, ["contacts"])

            # Support: finds Ann failing, reads why, resets her contacts, watches her come back.
            log_in(page, live_server, support_user)
            page.goto(f"{live_server.url}/users/?state=needs_attention")
            reload_until(page, lambda: page.get_by_role("link", name="Ann Journey").count(), "Ann needing attention")
            page.get_by_role("link", name="Ann Journey").click()
            objects = page.get_by_role("region", name="Objects")
            expect(objects.get_by_text("contacts_folder_missing")).to_be_visible()
            expect(objects.get_by_text("Salesforce_Sync", exact=False).first).to_be_visible()
            screenshot("journey-failing-user")
            page.get_by_role("link", name="Reset…").click()
            page.get_by_role("button", name="Reset and sync").click()
            expect(page.get_by_role("alert")).to_be_visible()
            reload_until(page, lambda: page.get_by_text("Needs attention").count() == 0
                         and page.get_by_text("In sync").count() > 0, "Ann back in sync")
            screenshot("journey-after-reset")
    except Exception:
        print((tmp_path / "worker.log").read_text()[-4000:] if (tmp_path / "worker.log").exists() else "")
        raise
    finally:
        running.stop()
