"""The users endpoints: list with search and filters, detail, adding a user by hand, and the query count."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import make_configuration, make_user, salesforce_user_id
from users.models import SyncUser, UserObjectState

URL = "/api/v1/users/"
pytestmark = pytest.mark.django_db


def test_detail_shape(admin_client_api):
    configuration = make_configuration("Sales", profiles=["Sales Rep"])
    user = make_user("ann@example.com", profile="Sales Rep", name="Ann Example")
    UserObjectState.objects.filter(user=user, object="contacts").update(
        state="error", last_error_code="INVALID_SESSION_ID", last_error_message="Session expired",
        last_success_at=datetime(2026, 11, 21, 8, 0, tzinfo=UTC), consecutive_failures=2,
    )
    UserObjectState.objects.filter(user=user, object="events").update(state="syncing", progress_done=5,
                                                                        progress_total=40)
    body = admin_client_api.get(f"{URL}{user.pk}/").json()
    assert body["effective_configuration"] == {"id": configuration.pk, "name": "Sales", "via": "profile"}
    assert body["configuration"] is None
    assert body["username"] == "ann@example.com"
    assert body["name"] == "Ann Example"
    assert set(body["objects"]) == {"contacts", "events", "tasks"}
    assert body["objects"]["contacts"] == {
        "state": "error", "last_run_at": None, "last_success_at": "2026-11-21T08:00:00Z", "next_due_at": None,
        "consecutive_failures": 2, "last_error": {"code": "INVALID_SESSION_ID", "message": "Session expired"},
        "progress": None,
    }
    assert body["objects"]["events"]["progress"] == {"done": 5, "total": 40}
    # "Sales" syncs nothing: what it does not sync is disabled, with the reason.
    assert body["objects"]["tasks"]["state"] == "disabled"
    assert body["objects"]["tasks"]["last_error"]["code"] == "object_not_synced"


def test_detail_of_a_user_without_state_rows(admin_client_api):
    user = SyncUser.objects.create(salesforce_id=salesforce_user_id(4242), username="bare@example.com",
                                   email="bare@example.com")
    body = admin_client_api.get(f"{URL}{user.pk}/").json()
    assert {o: s["state"] for o, s in body["objects"].items()} == {
        "contacts": "not_started", "events": "not_started", "tasks": "not_started"}
    assert body["effective_configuration"] is None


def test_list_search_and_filters(admin_client_api):
    sales = make_configuration("Sales", profiles=["Sales Rep"])
    pilot = make_configuration("Pilot")
    ann = make_user("ann@example.com", profile="Sales Rep", name="Ann Archer")
    bob = make_user("bob@example.com", profile="Sales Rep", configuration=pilot, name="Bob Baker")
    cy = make_user("cy@example.com", profile="Other", name="Cy Cole")
    UserObjectState.objects.filter(user=bob, object="tasks").update(state="needs_attention")
    for state in ("in_sync",):
        UserObjectState.objects.filter(user=cy).update(state=state)

    def ids(query):
        response = admin_client_api.get(f"{URL}?{query}")
        assert response.status_code == 200, response.content
        return [u["id"] for u in response.json()["results"]]

    assert ids("") == [ann.pk, bob.pk, cy.pk]
    assert ids("search=BAKER") == [bob.pk]
    assert ids("search=cy@") == [cy.pk]
    assert ids(f"search={ann.salesforce_id}") == [ann.pk]
    assert ids(f"configuration={sales.pk}") == [ann.pk]
    assert ids(f"configuration={pilot.pk}") == [bob.pk]
    assert ids("configuration=none") == [cy.pk]
    assert ids("state=needs_attention") == [bob.pk]
    assert ids("state=in_sync") == [cy.pk]
    assert ids("state=disabled") == [ann.pk, bob.pk]  # "Sales" and "Pilot" sync nothing
    assert ids(f"state=disabled&configuration={sales.pk}&search=ann") == [ann.pk]


@pytest.mark.parametrize("query", ["configuration=abc", "configuration=-1", "state=sleeping", "search=" + "x" * 300,
                                   "configuration=99999999999999999999999", "configuration=²", "configuration=١"])
def test_bad_filters_are_400(admin_client_api, query):
    response = admin_client_api.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert set(response.json()) <= {"configuration", "state", "search"}


def test_list_query_count_does_not_grow_with_users(admin_client_api):
    """5 users or 50: the same number of queries (auth, permissions, count, page, object states)."""
    sales = make_configuration("Sales", profiles=["Sales Rep"])
    pilot = make_configuration("Pilot")

    def add(count):
        for index in range(count):
            make_user(profile="Sales Rep", configuration=pilot if index % 2 else None)

    add(5)
    admin_client_api.get(URL)  # warm caches that are not per request (content types)
    with CaptureQueriesContext(connection) as five:
        assert admin_client_api.get(URL).json()["count"] == 5
    add(45)
    with CaptureQueriesContext(connection) as fifty:
        body = admin_client_api.get(URL).json()
    assert body["count"] == 50
    assert len(body["results"]) == 50
    assert {u["effective_configuration"]["id"] for u in body["results"]} == {sales.pk, pilot.pk}
    assert len(fifty) == len(five), [q["sql"] for q in fifty.captured_queries]
    assert len(fifty) <= 8


def test_configuration_users_query_count_does_not_grow(admin_client_api):
    sales = make_configuration("Sales", profiles=["Sales Rep"])
    for _ in range(3):
        make_user(profile="Sales Rep")
    url = f"/api/v1/configurations/{sales.pk}/users/"
    admin_client_api.get(url)
    with CaptureQueriesContext(connection) as few:
        admin_client_api.get(url)
    for _ in range(30):
        make_user(profile="Sales Rep")
    with CaptureQueriesContext(connection) as many:
        assert admin_client_api.get(url).json()["count"] == 33
    assert len(many) == len(few)


class TestAddUser:
    def payload(self, **overrides):
        return {"salesforce_id": salesforce_user_id(31337), "username": "New.User@Example.com",
                "email": "New.User@Example.com", "name": "New User", "profile": "Standard User", "active": True,
                **overrides}

    def test_created(self, admin_client_api):
        make_configuration("Standard", profiles=["Standard User"])
        response = admin_client_api.post(URL, self.payload(), format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["username"] == "new.user@example.com"
        assert body["effective_configuration"]["via"] == "profile"
        assert {s["state"] for s in body["objects"].values()} == {"disabled"}  # "Standard" syncs nothing
        assert UserObjectState.objects.filter(user_id=body["id"]).count() == 3

    def test_a_15_character_id_is_stored_in_its_18_character_form(self, admin_client_api):
        long_id = salesforce_user_id(31337)
        body = admin_client_api.post(URL, self.payload(salesforce_id=long_id[:15]), format="json").json()
        assert body["salesforce_id"] == long_id

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"salesforce_id": "0018d0000000001AAA"}, "salesforce_id"),  # an account id
            ({"salesforce_id": "005' OR 1=1"}, "salesforce_id"),
            ({"salesforce_id": "0058d0000000001ZZZ"}, "salesforce_id"),  # wrong checksum
            ({"email": "not-an-email"}, "email"),
            ({"username": ""}, "username"),
            ({"active": "maybe"}, "active"),
        ],
    )
    def test_invalid(self, admin_client_api, overrides, field):
        response = admin_client_api.post(URL, self.payload(**overrides), format="json")
        assert response.status_code == 400
        assert field in response.json()

    def test_duplicates_are_field_errors(self, admin_client_api):
        existing = make_user("taken@example.com", email="taken-mailbox@example.com")
        response = admin_client_api.post(URL, self.payload(
            salesforce_id=existing.salesforce_id, username="TAKEN@example.com", email="taken-mailbox@example.com"
        ), format="json")
        assert response.status_code == 400
        assert set(response.json()) == {"salesforce_id", "username", "email"}
        response = admin_client_api.post(URL, self.payload(salesforce_id=existing.salesforce_id[:15]), format="json")
        assert set(response.json()) == {"salesforce_id"}

    def test_not_editable_through_the_api(self, admin_client_api):
        user = make_user()
        # Only the mailbox route may be patched; the rest comes from Salesforce (import) and stays as it is.
        response = admin_client_api.patch(f"{URL}{user.pk}/", {"name": "x"}, format="json")
        assert response.status_code == 400 and response.json() == {"name": ["This field cannot be changed here."]}
        assert admin_client_api.put(f"{URL}{user.pk}/", {"name": "x"}, format="json").status_code == 405
        assert admin_client_api.delete(f"{URL}{user.pk}/").status_code == 405
        user.refresh_from_db()
        assert user.name != "x"
