"""Bulk actions through the API (issue 18, item 4): POST /api/v1/users/bulk/ for named users or a filter, the roles,
what is queued and skipped, one audit entry for the whole, 503 with nothing done when the queue is down; and the
assignments as CSV: export, and an import's per-line report (good, unknown and duplicate lines)."""

import pytest
from kombu import Connection

from audit.models import AuditEntry
from sync.models import SyncRun
from tests.factories import API_ROLES, make_configuration, make_user, refused_status
from users.models import SyncUser

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("enqueued")]

CONTACTS = {"contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}}


@pytest.fixture
def sales():
    return make_configuration("Sales", data_settings=CONTACTS)


@pytest.fixture
def team(sales):
    """Three users of Sales, and one with no configuration."""
    users = [make_user(f"rep{n}@example.com", configuration=sales) for n in range(3)]
    return [*users, make_user("loner@example.com")]


def test_sync_named_users_queues_a_run_each_and_skips_who_has_nothing_to_sync(admin_client_api, team):
    response = admin_client_api.post("/api/v1/users/bulk/", {
        "action": "sync", "users": [u.username for u in team] + ["nobody@example.com"]}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["matched"] == 5
    assert [e["username"] for e in body["queued"]] == [u.username for u in team[:3]]
    assert SyncRun.objects.filter(user__in=team[:3], trigger="manual").count() == 3
    reasons = {e["username"]: e["reason"] for e in body["skipped"]}
    assert "has no active configuration" in reasons["loner@example.com"]
    assert reasons["nobody@example.com"].startswith("No synced user has")
    assert body["detail"].startswith("Sync queued for 3 of the 5 users selected; 2 were left as they were")
    (entry,) = AuditEntry.objects.filter(action="users.bulk_action")
    assert entry.changes["action"] == "sync" and len(entry.changes["done"]) == 3


def test_a_filter_selects_every_matching_user(admin_client_api, team, sales):
    response = admin_client_api.post("/api/v1/users/bulk/", {
        "action": "reset", "filter": {"configuration": str(sales.pk)}, "objects": ["contacts"]}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["matched"] == 3
    assert SyncRun.objects.filter(trigger="reset").count() == 3


def test_assign_and_unassign(admin_client_api, team, sales):
    other = make_configuration("Support desk", data_settings=CONTACTS)
    response = admin_client_api.post("/api/v1/users/bulk/", {
        "action": "assign", "users": [team[0].pk, team[3].username], "configuration": other.pk}, format="json")
    assert response.status_code == 202, response.content
    assert {e["result"] for e in response.json()["queued"]} == {"moved", "assigned"}
    assert set(SyncUser.objects.filter(configuration=other).values_list("pk", flat=True)) == {team[0].pk, team[3].pk}
    response = admin_client_api.post("/api/v1/users/bulk/", {
        "action": "unassign", "filter": {"search": "rep"}}, format="json")
    assert response.status_code == 202
    assert response.json()["matched"] == 3
    assert not SyncUser.objects.filter(username__startswith="rep", configuration__isnull=False).exists()


@pytest.mark.parametrize("body, field", [
    ({"action": "sync"}, "users"),
    ({"action": "sync", "users": ["a"], "filter": {}}, "users"),
    ({"action": "sync", "filter": {"colour": "red"}}, "filter"),
    ({"action": "sync", "filter": {"state": "bogus"}}, "filter"),
    ({"action": "assign", "users": ["a"]}, "configuration"),
    ({"action": "assign", "users": ["a"], "configuration": 999999}, "configuration"),
    ({"action": "explode", "users": ["a"]}, "action"),
])
def test_bad_requests_are_400_naming_the_field(admin_client_api, team, body, field):
    response = admin_client_api.post("/api/v1/users/bulk/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not SyncRun.objects.exists()


@pytest.mark.parametrize("role", API_ROLES)
@pytest.mark.parametrize("action", ["sync", "assign"])
def test_roles(request, role, action, team, sales):
    client = request.getfixturevalue(role)
    body = {"action": action, "users": [team[3].username], "configuration": sales.pk}
    response = client.post("/api/v1/users/bulk/", body, format="json")
    allowed = role in ("api_client", "admin_client_api") or (action == "sync" and role == "support_client_api")
    status = refused_status(role, allowed)
    assert response.status_code == (status or 202), response.content
    if status:
        assert not AuditEntry.objects.filter(action="users.bulk_action").exists()


def test_broker_down_is_503_and_nothing_is_queued(admin_client_api, team, monkeypatch):
    unreachable = Connection("redis://127.0.0.1:1/0", connect_timeout=1)
    monkeypatch.setattr("sync.queue.current_app.connection_for_write", lambda: unreachable)
    response = admin_client_api.post("/api/v1/users/bulk/", {"action": "sync", "filter": {}}, format="json")
    assert response.status_code == 503
    assert response.json()["detail"].startswith("The task queue is unreachable")
    assert not SyncRun.objects.exists()
    assert not AuditEntry.objects.filter(action__in=["users.bulk_action", "user.sync_requested"]).exists()


# ---- assignments as CSV ------------------------------------------------------------------------------------------


def test_export_lists_the_direct_assignments(admin_client_api, team, sales):
    response = admin_client_api.get(f"/api/v1/configurations/{sales.pk}/users.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.decode().splitlines() == [
        "user,configuration", "rep0@example.com,Sales", "rep1@example.com,Sales", "rep2@example.com,Sales"]


def test_export_of_a_missing_configuration_is_404(admin_client_api):
    assert admin_client_api.get("/api/v1/configurations/424242/users.csv").status_code == 404


def test_import_reports_each_line(admin_client_api, team, sales):
    other = make_configuration("Support desk", data_settings=CONTACTS)
    csv = "\n".join([
        "user,configuration",
        f"loner@example.com,{sales.name}",          # 2: assigned
        f"rep0@example.com,{other.pk}",             # 3: moved (by id)
        "rep1@example.com,Sales",                   # 4: unchanged
        "ghost@example.com,Sales",                  # 5: unknown user
        "rep2@example.com,Marketing",               # 6: unknown configuration
        "loner@example.com,Sales",                  # 7: duplicate of line 2
        "",                                         # blank: passed over
        "just-one-column",                          # 9: malformed
    ])
    response = admin_client_api.generic("POST", "/api/v1/assignments/import/", csv, content_type="text/csv")
    assert response.status_code == 200, response.content
    lines = {line["line"]: line for line in response.json()["lines"]}
    assert {n: line["result"] for n, line in lines.items()} == {
        2: "assigned", 3: "moved", 4: "unchanged", 5: "refused", 6: "refused", 7: "refused", 9: "refused"}
    assert "Unknown user 'ghost@example.com'" in lines[5]["detail"]
    assert "Unknown configuration 'Marketing'" in lines[6]["detail"]
    assert lines[7]["detail"].startswith("Duplicate: line 2")
    assert SyncUser.objects.get(username="loner@example.com").configuration == sales
    assert SyncUser.objects.get(username="rep0@example.com").configuration == other
    assert AuditEntry.objects.filter(action="assignment.imported").count() == 1


def test_import_refuses_json_and_empty_files(admin_client_api):
    assert admin_client_api.post("/api/v1/assignments/import/", {"a": 1}, format="json").status_code == 415
    empty = admin_client_api.generic("POST", "/api/v1/assignments/import/", "", content_type="text/csv")
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]


@pytest.mark.parametrize("role", API_ROLES)
def test_import_roles(request, role, team, sales):
    client = request.getfixturevalue(role)
    response = client.generic("POST", "/api/v1/assignments/import/", "loner@example.com,Sales",
                              content_type="text/csv")
    status = refused_status(role, role in ("api_client", "admin_client_api"))
    assert response.status_code == (status or 200)
