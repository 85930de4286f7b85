from datetime import timedelta

import pytest
from django.utils import timezone

from configurations.services import assign_users, create_configuration
from sync.engine import Link
from sync.linkstore import DjangoLinkStore
from sync.models import RecordLink, SyncRun
from sync.services import SyncUnavailable, claim, request_sync
from users.models import UserObjectState
from users.services import add_sync_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    user = add_sync_user({"salesforce_id": "005000000000001", "username": "ben@example.com",
                          "email": "ben@example.com"})
    configuration = create_configuration({"name": "Sales", "data_settings": {
        "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"},
        "tasks": {"direction": "outlook_to_salesforce", "conflict_behavior": "outlook_wins"},
    }})
    assign_users(configuration, [user.username])
    return user


@pytest.fixture
def sent(monkeypatch):
    sent = []
    monkeypatch.setattr("sync.services._enqueue_runs", lambda runs: sent.extend(runs))
    return sent


def test_sync_now_queues_every_synced_object_after_commit(user, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        runs = request_sync(user)
    assert sorted(r.object for r in runs) == ["contacts", "tasks"]
    assert all(r.trigger == "manual" and r.state == "queued" for r in runs)
    assert sent == runs


def test_a_second_request_for_a_busy_object_names_the_running_run(user, sent):
    (run,) = request_sync(user, ["contacts"])
    with pytest.raises(SyncUnavailable) as info:  # queued
        request_sync(user, ["contacts", "tasks"])
    assert info.value.running_run_id == run.pk
    SyncRun.objects.filter(pk=run.pk).update(state="running")
    claim(UserObjectState.objects.get(user=user, object="contacts"), "worker-1")
    with pytest.raises(SyncUnavailable) as info:  # running, lease held
        request_sync(user, ["contacts"])
    assert info.value.running_run_id == run.pk
    assert SyncRun.objects.count() == 1


def test_a_run_whose_worker_died_does_not_block_once_its_lease_expired(user, sent):
    (run,) = request_sync(user, ["contacts"])
    SyncRun.objects.filter(pk=run.pk).update(state="running")
    UserObjectState.objects.filter(user=user, object="contacts").update(
        lease_owner="dead-worker", lease_expires_at=timezone.now() - timedelta(seconds=1))
    (again,) = request_sync(user, ["contacts"])
    assert again.pk != run.pk


def test_objects_the_configuration_does_not_sync_are_refused(user, sent):
    with pytest.raises(SyncUnavailable, match="does not sync events"):
        request_sync(user, ["events"])
    with pytest.raises(ValueError, match="unknown objects: notes"):
        request_sync(user, ["notes"])


def test_unassigned_user_is_refused(sent):
    user = add_sync_user({"salesforce_id": "005000000000002", "username": "x@example.com",
                          "email": "x@example.com"})
    with pytest.raises(SyncUnavailable, match="no active configuration"):
        request_sync(user)


def test_reset_clears_links_of_the_chosen_objects_only(user, sent):
    DjangoLinkStore(user.pk, "contacts").commit([Link("003A", "OL-A")], [])
    DjangoLinkStore(user.pk, "tasks").commit([Link("00TA", "OL-T")], [])
    (run,) = request_sync(user, ["contacts"], reset=True)
    assert run.trigger == "reset" and run.full
    assert list(RecordLink.objects.values_list("object", flat=True)) == ["tasks"]
