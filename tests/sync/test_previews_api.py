"""The previews' API: POST /users/{id}/dry-run/, POST /configurations/{id}/impact/, GET /previews/{id}/."""

import pytest

from sync.models import Preview
from users.services import effective_configuration

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch):
    ids = []
    monkeypatch.setattr("sync.previews.send_preview", ids.append)
    return ids


def test_anonymous_and_roleless_callers_are_refused(anonymous_client, outsider_client_api, contacts_user, sent):
    configuration = effective_configuration(contacts_user).configuration
    for client, code in ((anonymous_client, 401), (outsider_client_api, 403)):
        assert client.post(f"/api/v1/users/{contacts_user.pk}/dry-run/", {}, format="json").status_code == code
        assert client.post(f"/api/v1/configurations/{configuration.pk}/impact/", {"delete": True},
                           format="json").status_code == code
    assert not Preview.objects.exists() and not sent


def test_support_may_dry_run_but_not_preview_a_configuration_change(support_client_api, contacts_user, sent):
    response = support_client_api.post(f"/api/v1/users/{contacts_user.pk}/dry-run/", {}, format="json")
    assert response.status_code == 202
    preview = Preview.objects.get(pk=response.json()["preview"])
    assert preview.kind == "dry_run" and preview.request == {"objects": ["contacts"]}
    configuration = effective_configuration(contacts_user).configuration
    response = support_client_api.post(f"/api/v1/configurations/{configuration.pk}/impact/", {"delete": True},
                                       format="json")
    assert response.status_code == 403

    read = support_client_api.get(f"/api/v1/previews/{preview.pk}/")
    assert read.status_code == 200
    assert read.json()["state"] == "queued" and read.json()["result"] is None


def test_the_task_is_sent_only_after_the_commit(support_client_api, contacts_user, sent,
                                                django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = support_client_api.post(f"/api/v1/users/{contacts_user.pk}/dry-run/", {}, format="json")
        assert sent == []
    assert len(callbacks) == 1
    assert sent == [response.json()["preview"]]


def test_an_unreachable_broker_fails_the_preview_with_a_sentence(support_client_api, contacts_user, monkeypatch,
                                                                 django_capture_on_commit_callbacks):
    def refuse(preview_id):
        raise OSError("connection refused")

    monkeypatch.setattr("sync.previews.send_preview", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        response = support_client_api.post(f"/api/v1/users/{contacts_user.pk}/dry-run/", {}, format="json")
    preview = support_client_api.get(f"/api/v1/previews/{response.json()['preview']}/").json()
    assert preview["state"] == "failed"
    assert preview["error"].startswith("The task queue is unreachable")


def test_a_dry_run_of_an_object_not_synced_is_a_400_with_a_sentence(support_client_api, contacts_user, sent):
    response = support_client_api.post(f"/api/v1/users/{contacts_user.pk}/dry-run/", {"objects": ["events"]},
                                       format="json")
    assert response.status_code == 400
    assert "does not sync events" in response.json()["objects"][0]
    bad = support_client_api.post(f"/api/v1/users/{contacts_user.pk}/dry-run/", {"objects": ["notes"]},
                                  format="json")
    assert bad.status_code == 400 and "objects" in bad.json()
    assert support_client_api.post("/api/v1/users/999999/dry-run/", {}, format="json").status_code == 404


@pytest.mark.parametrize("body", [
    {"data_settings": {"contacts": {"direction": "salesforce_to_outlook"}}},
    {"assign": ["ben@example.com"]},
    {"unassign": ["ben@example.com"]},
    {"delete": True},
])
def test_admin_previews_each_kind_of_change(admin_client_api, contacts_user, sent, body):
    configuration = effective_configuration(contacts_user).configuration
    response = admin_client_api.post(f"/api/v1/configurations/{configuration.pk}/impact/", body, format="json")
    assert response.status_code == 202, response.content
    preview = Preview.objects.get(pk=response.json()["preview"])
    assert preview.kind == "impact" and preview.configuration == configuration


@pytest.mark.parametrize(("body", "field"), [
    ({"data_settings": {"contacts": {"direction": "salesforce_to_outlook", "conflict_behavior": "outlook_wins"}}},
     "data_settings"),
    ({"delete": False}, "non_field_errors"),
    ({"assign": []}, "non_field_errors"),
    ({"assign": ["a"], "delete": True}, "non_field_errors"),
    ({"nonsense": 1}, "nonsense"),
])
def test_a_preview_of_a_change_that_could_not_be_saved_is_a_400_naming_the_field(admin_client_api, contacts_user,
                                                                                   sent, body, field):
    configuration = effective_configuration(contacts_user).configuration
    response = admin_client_api.post(f"/api/v1/configurations/{configuration.pk}/impact/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Preview.objects.exists()


def test_an_unknown_preview_is_a_404(support_client_api):
    assert support_client_api.get("/api/v1/previews/424242/").status_code == 404
