"""Assigning users: mixed identifiers, moves, idempotence, unknowns, atomicity, and unassigning."""

from unittest import mock

import pytest

from audit.models import AuditEntry
from tests.factories import make_configuration, make_user
from users import services
from users.models import SyncUser

pytestmark = pytest.mark.django_db


def assign(client, configuration, users):
    return client.post(f"/api/v1/configurations/{configuration.pk}/assign/", {"users": users}, format="json")


def test_mixed_identifiers(admin_client_api):
    configuration = make_configuration()
    by_id, by_name, by_mail, by_sfid, by_sfid15 = (make_user() for _ in range(5))
    identifiers = [by_id.pk, by_name.username.upper(), by_mail.email, by_sfid.salesforce_id,
                   by_sfid15.salesforce_id[:15], str(by_id.pk)]
    response = assign(admin_client_api, configuration, identifiers)
    assert response.status_code == 200
    assert response.json() == {"assigned": identifiers, "moved": [], "unchanged": [], "unknown": []}
    assert SyncUser.objects.filter(configuration=configuration).count() == 5


def test_idempotent(admin_client_api):
    configuration = make_configuration()
    user = make_user()
    assert assign(admin_client_api, configuration, [user.username]).json()["assigned"] == [user.username]
    again = assign(admin_client_api, configuration, [user.username]).json()
    assert again == {"assigned": [], "moved": [], "unchanged": [user.username], "unknown": []}
    assert AuditEntry.objects.filter(action=AuditEntry.Action.USERS_ASSIGNED).count() == 1


def test_a_second_configuration_moves_the_user(admin_client_api):
    first, second = make_configuration("First"), make_configuration("Second")
    user = make_user(configuration=first)
    body = assign(admin_client_api, second, [user.email]).json()
    assert body == {"assigned": [], "moved": [user.email], "unchanged": [], "unknown": []}
    user.refresh_from_db()
    assert user.configuration == second
    moved_away = AuditEntry.objects.get(action=AuditEntry.Action.USERS_MOVED_AWAY)
    assert moved_away.configuration_id == first.pk
    assert moved_away.changes == {"moved_users": [user.pk], "to_configuration": second.pk}


def test_unknown_identifiers_are_reported_not_fatal(admin_client_api):
    configuration = make_configuration()
    user = make_user()
    unknown = ["nobody@example.com", 999999, "0058d0000000zzzAAA", "0058d0000000001XXX", "  ", "12345678901234567890",
               "²", "١٢", 0, -3, 2**70]
    body = assign(admin_client_api, configuration, [user.pk, *unknown]).json()
    assert body["assigned"] == [user.pk]
    assert body["unknown"] == unknown


def test_username_wins_over_someone_elses_email(admin_client_api):
    configuration = make_configuration()
    owner = make_user("shared@example.com", email="owner@example.com")
    make_user("other@example.com", email="shared@example.com")
    assign(admin_client_api, configuration, ["shared@example.com"])
    assert list(SyncUser.objects.filter(configuration=configuration)) == [owner]


@pytest.mark.parametrize(
    "payload",
    [{}, {"users": []}, {"users": "alice"}, {"users": [None]}, {"users": [True]}, {"users": [{"id": 1}]},
     {"users": ["x" * 255]}, {"users": ["nul\x00"]}],
)
def test_bad_payloads_are_400(admin_client_api, payload):
    configuration = make_configuration()
    response = admin_client_api.post(f"/api/v1/configurations/{configuration.pk}/assign/", payload, format="json")
    assert response.status_code == 400
    assert "users" in response.json()


def test_assigning_to_a_missing_configuration_is_404(admin_client_api):
    response = admin_client_api.post("/api/v1/configurations/424242/assign/", {"users": [1]}, format="json")
    assert response.status_code == 404


def test_one_transaction(admin_user):
    first, second = make_configuration("First"), make_configuration("Second")
    users = [make_user() for _ in range(3)]
    with mock.patch("audit.services.record", side_effect=RuntimeError("audit store down")), pytest.raises(
        RuntimeError
    ):
        services.assign_users(second, [u.pk for u in users], actor=admin_user)
    assert not SyncUser.objects.filter(configuration=second).exists()
    services.assign_users(first, [users[0].pk], actor=admin_user)
    with mock.patch("audit.services.record", side_effect=RuntimeError("audit store down")), pytest.raises(
        RuntimeError
    ):
        services.assign_users(second, [u.pk for u in users], actor=admin_user)
    assert list(SyncUser.objects.filter(configuration=first)) == [users[0]]


def test_many_users_in_a_constant_number_of_queries(admin_user, django_assert_max_num_queries):
    configuration = make_configuration()
    users = [make_user() for _ in range(60)]
    identifiers = [u.username for u in users[:20]] + [u.email for u in users[20:40]] + [u.pk for u in users[40:]]
    with django_assert_max_num_queries(12):
        result = services.assign_users(configuration, identifiers, actor=admin_user)
    assert len(result.assigned) == 60


def test_unassign(admin_client_api):
    here, elsewhere = make_configuration("Here"), make_configuration("Elsewhere")
    mine, theirs, loose = make_user(configuration=here), make_user(configuration=elsewhere), make_user()
    response = admin_client_api.post(f"/api/v1/configurations/{here.pk}/unassign/",
                                     {"users": [mine.username, theirs.username, loose.pk, "ghost"]}, format="json")
    assert response.status_code == 200
    assert response.json() == {"unassigned": [mine.username], "unchanged": [theirs.username, loose.pk],
                               "unknown": ["ghost"]}
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.configuration is None
    assert theirs.configuration == elsewhere
    again = admin_client_api.post(f"/api/v1/configurations/{here.pk}/unassign/", {"users": [mine.username]},
                                  format="json").json()
    assert again == {"unassigned": [], "unchanged": [mine.username], "unknown": []}


def test_configuration_users_lists_direct_and_profile_assignments(admin_client_api):
    configuration = make_configuration("Sales", profiles=["Sales Rep"])
    direct = make_user("a@example.com", profile="Other", configuration=configuration)
    by_profile = make_user("b@example.com", profile="Sales Rep")
    make_user("c@example.com", profile="Sales Rep", configuration=make_configuration("Elsewhere"))
    make_user("d@example.com", profile="Other")
    body = admin_client_api.get(f"/api/v1/configurations/{configuration.pk}/users/").json()
    assert body["count"] == 2
    assert [(u["id"], u["effective_configuration"]["via"]) for u in body["results"]] == [
        (direct.pk, "user"), (by_profile.pk, "profile")]


def test_configuration_users_of_an_inactive_configuration(admin_client_api):
    configuration = make_configuration("Paused", active=False)
    user = make_user(configuration=configuration)
    body = admin_client_api.get(f"/api/v1/configurations/{configuration.pk}/users/").json()
    assert [u["id"] for u in body["results"]] == [user.pk]
    assert body["results"][0]["effective_configuration"] is None  # assigned, but an inactive one applies to nobody


def test_configuration_users_can_be_searched_and_filtered_by_state(admin_client_api):
    from users.models import UserObjectState

    configuration = make_configuration("Sales", profiles=["Sales Rep"])
    ann = make_user("ann@example.com", profile="Sales Rep")
    bob = make_user("bob@example.com", profile="Sales Rep")
    UserObjectState.objects.filter(user=bob, object="events").update(state="error")
    url = f"/api/v1/configurations/{configuration.pk}/users/"
    assert [u["id"] for u in admin_client_api.get(f"{url}?search=ann").json()["results"]] == [ann.pk]
    assert [u["id"] for u in admin_client_api.get(f"{url}?state=error").json()["results"]] == [bob.pk]
    assert admin_client_api.get(f"{url}?state=bogus").status_code == 400
