"""The service end to end: REST API → database → beat → broker → a real worker → the sandbox, and back."""

from datetime import timedelta

import pytest
from django.utils import timezone
from exchangelib.indexed_properties import EmailAddress
from rest_framework.test import APIClient

from sync.models import SyncRun
from syncadmin.roles import ADMIN
from syncadmin.services import create_account, issue_token
from tests.processes import celery_beat, celery_worker, wait_for
from users.models import SyncState, UserObjectState

pytestmark = [pytest.mark.e2e]


def all_in_sync(users, objects=("contacts", "tasks")) -> bool:
    states = UserObjectState.objects.filter(user__in=[p.sync_user for p in users], object__in=objects)
    return states.count() == len(users) * len(objects) and all(s.state == SyncState.IN_SYNC for s in states)


def contacts_run_active(user_id) -> bool:
    return SyncRun.objects.filter(user_id=user_id, object="contacts", state__in=("queued", "running")).exists()


def request_sync_now(api, user_id):
    """Ask for a contacts sync once beat's own runs for the user are over.

    Beat keeps dispatching scheduled runs while the test goes on; one may be queued at the very moment we ask, and
    the answer is then rightly 409. Wait for that run and ask again, a bounded number of times.
    """
    for _ in range(3):
        wait_for(lambda: not contacts_run_active(user_id), 60, message="beat's run for the user to finish")
        response = api.post(f"/api/v1/users/{user_id}/sync/", {"objects": ["contacts"]}, format="json")
        if response.status_code != 409:
            return response
        assert SyncRun.objects.get(pk=response.json()["running_run"]).trigger == "schedule", response.content
    return response


def test_configure_through_the_api_and_workers_keep_everyone_in_sync(live_world, tmp_path):
    people = [live_world.person() for _ in range(3)]
    for n, person in enumerate(people):
        person.salesforce.Contact.create({"FirstName": f"Contact{n}", "LastName": "Seeded"})
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(create_account('ops', ADMIN))}")
    created = api.post("/api/v1/configurations/", {
        "name": "Orchestrated", "sync_interval_minutes": 1,
        "data_settings": {"contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"},
                          "tasks": {"direction": "both", "conflict_behavior": "outlook_wins"}},
        "data_sets": {"contacts": {"scope": "my_contacts"}},
    }, format="json")
    assert created.status_code == 201, created.content
    assigned = api.post(f"/api/v1/configurations/{created.json()['id']}/assign/",
                        {"users": [p.username for p in people]}, format="json")
    assert sorted(assigned.json()["assigned"]) == sorted(p.username for p in people)

    with celery_worker("sync,initial,default", concurrency=2, log_path=tmp_path / "worker.log"), \
            celery_beat(tmp_path / "beat-schedule", interval_seconds=2, log_path=tmp_path / "beat.log"):
        try:
            wait_for(lambda: all_in_sync(people), 90, message="every user in_sync")
            first = people[0]
            assert [c.given_name for c in (first.mailbox.contacts // "Salesforce_Sync").all()] == ["Contact0"]

            # A change in Outlook reaches Salesforce by itself, within two intervals (here one minute each).
            folder = first.mailbox.contacts // "Salesforce_Sync"
            from exchangelib import Contact

            Contact(folder=folder, given_name="From", surname="Outlook", display_name="From Outlook",
                    email_addresses=[EmailAddress(email="from@outlook.test", label="EmailAddress1")]).save()
            # Its object is due again within two intervals; the test brings that moment to now instead of waiting
            # a minute (a run of beat's that ends meanwhile sets it again, and the wait below covers that).
            due = UserObjectState.objects.filter(user=first.sync_user, object="contacts")
            assert due.get().next_due_at <= timezone.now() + timedelta(minutes=2)
            due.update(next_due_at=timezone.now())
            wait_for(lambda: first.salesforce.query("SELECT Id FROM Contact WHERE LastName = 'Outlook'")["totalSize"],
                     130, interval=2, message="the Outlook contact in Salesforce")

            # Sync now: accepted, and a second request while it is queued or running answers 409 naming the run.
            user_id = first.sync_user.pk
            # Exchange made slow for a moment, so that the run is certainly still going when we ask again.
            live_world.fault(live_world.sandbox.exchange_url, operation="*", status=200, latency_ms=3000, count=1)
            response = request_sync_now(api, user_id)
            assert response.status_code == 202, response.content
            (run_id,) = response.json()["runs"]
            again = api.post(f"/api/v1/users/{user_id}/sync/", {"objects": ["contacts"]}, format="json")
            assert again.status_code == 409 and again.json()["running_run"] == run_id
            wait_for(lambda: SyncRun.objects.get(pk=run_id).state == "succeeded", 60, message="sync now")

            # Reset: links forgotten, then a full matching sync that creates nothing.
            reset = api.post(f"/api/v1/users/{user_id}/reset/", {"objects": ["contacts"]}, format="json")
            assert reset.status_code == 202
            (reset_id,) = reset.json()["runs"]
            wait_for(lambda: SyncRun.objects.get(pk=reset_id).state in ("succeeded", "failed"), 60,
                     message="the reset run")
            detail = api.get(f"/api/v1/sync-runs/{reset_id}/").json()
            assert detail["state"] == "succeeded" and detail["trigger"] == "reset"
            assert "create" not in detail["counts"]["salesforce"] and "create" not in detail["counts"]["outlook"]
            assert folder.all().count() == 2
            assert first.salesforce.query("SELECT Id FROM Contact")["totalSize"] == 2
        except AssertionError:
            print((tmp_path / "worker.log").read_text()[-5000:])
            raise
    assert UserObjectState.objects.filter(lease_owner__gt="").count() == 0
    assert SyncRun.objects.filter(state="failed").count() == 0, list(
        SyncRun.objects.filter(state="failed").values("object", "error_code", "error_message"))
    assert timezone.now()
