"""The audit trail: every change to a configuration or an assignment, who and when, before and after."""

import pytest

from audit import services as audit_services
from audit.models import AuditEntry
from configurations import services
from tests.factories import make_configuration, make_user, salesforce_user_id
from users.services import assign_users

URL = "/api/v1/configurations/"
pytestmark = pytest.mark.django_db


def test_create_is_recorded_with_the_actor(admin_client_api, admin_user):
    body = admin_client_api.post(URL, {"name": "Sales", "profiles": ["Rep"]}, format="json").json()
    entry = AuditEntry.objects.get()
    assert entry.action == "configuration.created"
    assert entry.actor == admin_user
    assert entry.actor_name == "ada.admin"
    assert entry.configuration_id == body["id"]
    assert entry.changes["before"] is None
    assert entry.changes["after"]["profiles"] == ["Rep"]


def test_update_records_only_what_changed(admin_client_api):
    configuration = make_configuration("Sales", data_settings={"events": {"direction": "both"}})
    admin_client_api.patch(f"{URL}{configuration.pk}/", {
        "sync_interval_minutes": 30,
        "profiles": ["Rep"],
        "data_settings": {"events": {"direction": "salesforce_to_outlook"}},
        "data_sets": {"contacts": {"scope": "all_visible"}},
    }, format="json")
    entry = AuditEntry.objects.get(action="configuration.updated")
    assert entry.changes == {
        "before": {"sync_interval_minutes": 10, "profiles": [], "data_settings": {"events": {
            "direction": "both"}}, "data_sets": {"contacts": {"scope": "my_contacts"}}},
        "after": {"sync_interval_minutes": 30, "profiles": ["Rep"], "data_settings": {"events": {
            "direction": "salesforce_to_outlook"}}, "data_sets": {"contacts": {"scope": "all_visible"}}},
    }


def test_a_patch_that_changes_nothing_records_nothing(admin_client_api):
    configuration = make_configuration("Sales")
    admin_client_api.patch(f"{URL}{configuration.pk}/", {"name": "Sales"}, format="json")
    assert not AuditEntry.objects.filter(action="configuration.updated").exists()


def test_a_rejected_change_records_nothing(admin_client_api):
    configuration = make_configuration("Sales")
    response = admin_client_api.patch(f"{URL}{configuration.pk}/", {
        "data_settings": {"contacts": {"direction": "outlook_to_salesforce"}}}, format="json")
    assert response.status_code == 400
    assert AuditEntry.objects.count() == 1  # the creation only


def test_delete_keeps_the_trail(admin_client_api):
    configuration = make_configuration("Doomed")
    user = make_user(configuration=configuration)
    admin_client_api.delete(f"{URL}{configuration.pk}/")
    entries = AuditEntry.objects.filter(configuration_id=configuration.pk)
    assert [e.action for e in entries] == ["configuration.deleted", "configuration.created"]
    assert entries[0].changes["unassigned_users"] == [user.pk]
    assert entries[0].configuration_name == "Doomed"
    body = admin_client_api.get(f"/api/v1/audit/?configuration={configuration.pk}").json()
    assert body["count"] == 2


def test_a_bulk_assignment_is_one_entry(admin_user):
    configuration, other = make_configuration("Target"), make_configuration("Other")
    fresh = [make_user() for _ in range(5)]
    moved = make_user(configuration=other)
    assign_users(configuration, [u.pk for u in fresh] + [moved.pk], actor=admin_user)
    entry = AuditEntry.objects.get(action="assignment.assigned")
    assert entry.configuration_id == configuration.pk
    assert entry.changes == {"assigned_users": sorted(u.pk for u in fresh), "moved_users": {str(other.pk): [moved.pk]}}
    assert AuditEntry.objects.get(action="assignment.moved_away").configuration_id == other.pk


def test_unassignment_and_user_addition_are_recorded(admin_client_api):
    configuration = make_configuration("Sales")
    user = make_user(configuration=configuration)
    admin_client_api.post(f"{URL}{configuration.pk}/unassign/", {"users": [user.pk]}, format="json")
    assert AuditEntry.objects.get(action="assignment.unassigned").changes == {"unassigned_users": [user.pk]}
    response = admin_client_api.post("/api/v1/users/", {"salesforce_id": salesforce_user_id(777),
                                                        "username": "new@example.com", "email": "new@example.com"},
                                     format="json")
    assert response.status_code == 201
    assert AuditEntry.objects.get(action="user.added").changes["after"]["username"] == "new@example.com"


def test_reading_the_trail_through_the_api(admin_client_api, support_client_api):
    first, second = make_configuration("First"), make_configuration("Second")
    services.update_configuration(first, {"description": "changed"})
    body = support_client_api.get(f"/api/v1/audit/?configuration={first.pk}").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert [e["action"] for e in body["results"]] == ["configuration.updated", "configuration.created"]
    assert body["results"][0]["actor"] == ""  # a service call without an actor: the system
    assert set(body["results"][0]) == {"id", "at", "actor", "action", "configuration", "configuration_name",
                                       "summary", "changes"}
    nested = support_client_api.get(f"{URL}{first.pk}/audit/").json()
    assert [e["id"] for e in nested["results"]] == [e["id"] for e in body["results"]]
    only_created = admin_client_api.get("/api/v1/audit/?action=configuration.created").json()
    assert {e["configuration"] for e in only_created["results"]} == {first.pk, second.pk}
    entry_id = body["results"][0]["id"]
    assert admin_client_api.get(f"/api/v1/audit/{entry_id}/").json()["id"] == entry_id


@pytest.mark.parametrize("query", ["configuration=abc", "configuration=0", "action=nonsense"])
def test_bad_audit_filters_are_400(admin_client_api, query):
    assert admin_client_api.get(f"/api/v1/audit/?{query}").status_code == 400


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_trail_is_read_only(admin_client_api, method):
    make_configuration("Sales")
    entry = AuditEntry.objects.get()
    assert getattr(admin_client_api, method)(f"/api/v1/audit/{entry.pk}/", {}, format="json").status_code == 405
    assert getattr(admin_client_api, method)("/api/v1/audit/", {}, format="json").status_code == 405


def test_the_admin_site_shows_the_trail_read_only(client, admin_user):
    make_configuration("Sales")
    client.force_login(admin_user)
    entry = AuditEntry.objects.get()
    assert client.get("/admin/audit/auditentry/").status_code == 200
    page = client.get(f"/admin/audit/auditentry/{entry.pk}/change/")
    assert page.status_code == 200
    assert b"Created configuration" in page.content
    assert client.get("/admin/audit/auditentry/add/").status_code == 403
    assert client.get(f"/admin/configurations/outlookconfiguration/{entry.configuration_id}/change/").status_code == 200
    assert client.get("/admin/users/syncuser/").status_code == 200


def test_a_configurations_trail_filters_by_action(admin_client_api):
    configuration = make_configuration("Sales")
    services.update_configuration(configuration, {"description": "x"})
    url = f"{URL}{configuration.pk}/audit/"
    assert [e["action"] for e in admin_client_api.get(f"{url}?action=configuration.updated").json()["results"]] == [
        "configuration.updated"]
    assert admin_client_api.get(f"{url}?action=bogus").status_code == 400


def test_the_admin_site_deactivates_through_the_service(client, admin_user):
    configuration = make_configuration("Sales")
    client.force_login(admin_user)
    response = client.post("/admin/configurations/outlookconfiguration/",
                           {"action": "deactivate", "_selected_action": [configuration.pk]})
    assert response.status_code == 302
    configuration.refresh_from_db()
    assert configuration.active is False
    entry = AuditEntry.objects.get(action="configuration.updated")
    assert (entry.actor, entry.changes) == (admin_user, {"before": {"active": True}, "after": {"active": False}})


def test_an_entry_can_name_the_synced_user_it_is_about(admin_user):
    user = make_user("ann@example.com")
    entry = audit_services.record(AuditEntry.Action.USER_RESET, admin_user, summary="Reset contacts",
                                  subject_user=user)
    assert (entry.subject, entry.subject_user_id, entry.configuration_id) == ("ann@example.com", user.pk, None)
    user.delete()
    entry.refresh_from_db()
    assert entry.subject == "ann@example.com"  # the trail outlives the user
    other = audit_services.record(AuditEntry.Action.CONNECTION_UPDATED, subject="Salesforce org connection")
    assert (other.subject, other.subject_user_id, other.actor_name) == ("Salesforce org connection", None, "")
