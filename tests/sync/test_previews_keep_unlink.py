"""Issue 18 item 1: when a change would delete the Outlook copies of records leaving the scope and the admin chooses
"keep them and unlink", the impact preview shows those records as unlinks (with examples), not deletes; the choice
reaches the preview from the API's body and from the console's form, and the preview still writes nothing."""

import pytest
from django.test import Client

from configurations.services import update_configuration
from sync.engine import Side
from sync.models import Preview
from sync.planning import plan_object
from sync.previews import compute_preview, request_impact
from sync.queue import queue_run
from sync.runner import Clients, execute_run
from tests.factories import make_configuration, make_user
from tests.sync.test_runner import FakeEnd
from users.models import UserObjectState

pytestmark = pytest.mark.django_db
NARROWED = {"data_sets": {"contacts": {"filters": [{"field": "MailingCountry", "op": "equals", "value": "France"}]}}}


@pytest.fixture
def ends():
    return Clients(salesforce=FakeEnd(Side.SALESFORCE), exchange=FakeEnd(Side.OUTLOOK))


@pytest.fixture
def synced(ends, monkeypatch):
    """Two contacts synced to Outlook; then Ann leaves the scope in Salesforce (as the narrowed filter would make
    her: the in-memory end does not compile filters)."""
    monkeypatch.setattr("sync.previews.send_preview", lambda preview_id: None)
    configuration = make_configuration("Sales", data_settings={
        "contacts": {"direction": "salesforce_to_outlook", "conflict_behavior": "salesforce_wins"}})
    user = make_user(configuration=configuration)
    salesforce = ends.salesforce.sides["contacts"]
    ann = salesforce.add({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"})
    salesforce.add({"first_name": "Cy", "last_name": "Do", "email": "cy@example.com"})
    execute_run(queue_run(user, "contacts", "manual").pk, clients=ends)
    assert len(ends.exchange.sides["contacts"].live()) == 2
    salesforce.set_scope(ann, False)
    return configuration, user


def previewed(configuration, ends, change: dict) -> dict:
    preview = compute_preview(request_impact(configuration, {"change": change}).pk, clients=lambda u: ends)
    assert preview.state == Preview.State.DONE, preview.error_message
    return preview.result


def test_keep_and_unlink_previews_the_copies_as_unlinks_with_examples(synced, ends):
    configuration, user = synced
    outlook = ends.exchange.sides["contacts"]
    writes_before = dict(outlook.engine_writes)

    result = previewed(configuration, ends, {**NARROWED, "on_scope_exit": "keep"})

    contacts = result["objects"]["contacts"]
    assert contacts["delete"] == {"salesforce": 0, "outlook": 0}
    assert (contacts["unlink"], contacts["unlink_kept"]) == (1, 1)
    example = next(e for e in contacts["examples"] if e["action"] == "unlink")
    assert example["side"] == "outlook" and example["name"] == "Ann Lee <ann@example.com>"
    assert "Outlook copy is kept" in example["reason"]
    assert result["on_scope_exit"] == "keep"
    # Nothing written: neither end, nor the stored choice (the save makes it, not the preview).
    assert outlook.engine_writes == writes_before and len(outlook.live()) == 2
    assert not UserObjectState.objects.get(user=user, object="contacts").release_scope_exits


def test_delete_and_no_choice_preview_the_copies_as_deletes(synced, ends):
    configuration, _ = synced
    for change in ({**NARROWED, "on_scope_exit": "delete"}, NARROWED):
        contacts = previewed(configuration, ends, change)["objects"]["contacts"]
        assert contacts["delete"]["outlook"] == 1 and contacts["unlink"] == 0, change
        assert {"action": "delete", "side": "outlook", "name": "Ann Lee <ann@example.com>",
                "reason": "It left the data set in Salesforce."} in contacts["examples"]


def test_a_keep_an_earlier_save_left_for_the_next_run_is_previewed_as_unlinks(synced, ends):
    configuration, user = synced
    update_configuration(configuration, NARROWED, on_scope_exit="keep")
    # A further change without a choice keeps the earlier one: the preview shows what the next run will do.
    contacts = previewed(configuration, ends, {"data_sets": {"contacts": {"record_limit": 500}}})["objects"][
        "contacts"]
    assert (contacts["delete"]["outlook"], contacts["unlink"]) == (0, 1)
    # And the user's dry run (the stored choice) says the same, record by record.
    summary = plan_object(user, "contacts", clients=ends)
    assert [(a["action"], a["side"], a["name"]) for a in summary["actions"]] == [
        ("unlink", "outlook", "Ann Lee <ann@example.com>")]


def test_the_api_takes_the_choice_in_the_impact_body_as_the_save_does(admin_client_api, synced, ends):
    configuration, _ = synced
    url = f"/api/v1/configurations/{configuration.pk}/impact/"
    response = admin_client_api.post(url, {**NARROWED, "on_scope_exit": "keep"}, format="json")
    assert response.status_code == 202, response.content
    preview = Preview.objects.get(pk=response.json()["preview"])
    assert preview.request["on_scope_exit"] == "keep" and "on_scope_exit" not in preview.request["change"]

    bad = admin_client_api.post(url, {**NARROWED, "on_scope_exit": "archive"}, format="json")
    assert bad.status_code == 400 and bad.json()["on_scope_exit"][0].startswith("Choose")
    alone = admin_client_api.post(url, {"delete": True, "on_scope_exit": "keep"}, format="json")
    assert alone.status_code == 400 and "one thing at a time" in alone.json()["non_field_errors"][0]
    assert Preview.objects.count() == 1


def test_anonymous_and_support_may_not_preview_with_a_choice(anonymous_client, support_client_api, synced):
    configuration, _ = synced
    url = f"/api/v1/configurations/{configuration.pk}/impact/"
    body = {**NARROWED, "on_scope_exit": "keep"}
    assert anonymous_client.post(url, body, format="json").status_code == 401
    assert support_client_api.post(url, body, format="json").status_code == 403
    assert not Preview.objects.exists()


def console_form(**extra) -> dict:
    return {"impact": "change", "name": "Sales", "active": "on", "sync_mode": "near_real_time",
            "sync_interval_minutes": "10", "contacts-direction": "salesforce_to_outlook",
            "contacts-conflict_behavior": "salesforce_wins", "contacts-filters-0-field": "MailingCountry",
            "contacts-filters-0-op": "equals", "contacts-filters-0-value": "France", "events-days_back": "30",
            "events-days_ahead": "90", "tasks-closed_days_back": "30", **extra}


def test_the_console_previews_with_the_choice_and_shows_the_kept_copies(admin_user, synced, ends):
    configuration, _ = synced
    client = Client()
    client.force_login(admin_user)
    response = client.post(f"/configurations/{configuration.pk}/impact/", console_form(on_scope_exit="keep"),
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 202, response.content.decode()
    preview = Preview.objects.get()
    assert preview.request["on_scope_exit"] == "keep"
    compute_preview(preview.pk, clients=lambda u: ends)

    page = client.get(f"/sync/previews/{preview.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "the Outlook copies of 1 record leaving the scope would be kept as they are and unlinked" in page
    assert "unlinked: 1" in page and "Unlink in Outlook: <strong>Ann Lee &lt;ann@example.com&gt;</strong>" in page
    assert 'id="on-scope-exit-keep" value="keep" form="configuration-form" checked' in page
    assert "Preview again with this choice" in page


def test_the_console_refuses_another_choice_with_a_sentence(admin_user, synced):
    configuration, _ = synced
    client = Client()
    client.force_login(admin_user)
    response = client.post(f"/configurations/{configuration.pk}/impact/", console_form(on_scope_exit="archive"),
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Choose &quot;delete&quot;" in response.content.decode()
    assert not Preview.objects.exists()


def test_the_users_lists_bulk_assignment_offers_its_impact_preview(admin_user, synced):
    """Assigning users from the users list shows its impact before it is saved, as from the configuration's page."""
    configuration, user = synced
    other = make_configuration("Service", data_settings={
        "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}})
    client = Client()
    client.force_login(admin_user)
    confirm = client.post("/users/bulk/", {"action": "assign", "users": [str(user.pk)],
                                           "configuration": str(other.pk)}).content.decode()
    assert f'action="/configurations/{other.pk}/impact/"' in confirm
    assert '<input type="hidden" name="impact" value="assign">' in confirm

    response = client.post(f"/configurations/{other.pk}/impact/", {"impact": "assign", "users": [str(user.pk)]})
    preview = Preview.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/sync/previews/{preview.pk}/"
    assert preview.configuration == other and preview.request == {"assign": [str(user.pk)]}
    assert user.configuration == configuration  # nothing assigned by the preview

    page = client.post("/users/bulk/", {"action": "sync", "users": [str(user.pk)]}).content.decode()
    assert "Sync now for 1 user?" in page and "/impact/" not in page  # a sync changes no assignment: no preview
