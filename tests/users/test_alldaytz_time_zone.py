"""A synced user's time zone (issue 17, item 1 follow-up): set by hand through the API (an IANA name, checked), and
brought in from Salesforce's User.TimeZoneSidKey by the import."""

import pytest

from sync.connectors.salesforce import SalesforceUser
from tests.factories import make_user, salesforce_user_id
from users import operations
from users.models import SyncUser

URL = "/api/v1/users/"
pytestmark = pytest.mark.django_db


def payload(**overrides):
    return {"salesforce_id": salesforce_user_id(4711), "username": "zoe@example.com", "email": "zoe@example.com",
            "name": "Zoé", "profile": "Standard User", **overrides}


def test_a_user_added_with_a_time_zone_shows_it(admin_client_api):
    response = admin_client_api.post(URL, payload(time_zone="Europe/Paris"), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["time_zone"] == "Europe/Paris"
    assert SyncUser.objects.get(username="zoe@example.com").time_zone == "Europe/Paris"
    assert admin_client_api.get(f"{URL}{response.json()['id']}/").json()["time_zone"] == "Europe/Paris"


def test_a_user_added_without_a_time_zone_is_in_utc(admin_client_api):
    response = admin_client_api.post(URL, payload(), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["time_zone"] == ""


@pytest.mark.parametrize("zone", ["Europe/Pariss", "America", "../../etc/passwd", "Romance Standard Time", "x" * 65])
def test_an_unknown_time_zone_is_a_400_with_a_sentence(admin_client_api, zone):
    response = admin_client_api.post(URL, payload(time_zone=zone), format="json")
    assert response.status_code == 400, response.content
    (message,) = response.json()["time_zone"]
    assert message.endswith(".") and message[0].isupper()
    assert not SyncUser.objects.filter(username="zoe@example.com").exists()


def test_the_import_brings_each_users_salesforce_time_zone(monkeypatch):
    known = make_user("known@example.com", name="Known")
    people = [
        SalesforceUser(id=known.salesforce_id, username=known.username, email=known.email, name="Known",
                       profile="Standard User", active=True, time_zone="Pacific/Auckland"),
        SalesforceUser(id=salesforce_user_id(9001), username="new@example.com", email="new@example.com",
                       name="New", profile="Standard User", active=True, time_zone="Europe/Paris"),
        SalesforceUser(id=salesforce_user_id(9002), username="odd@example.com", email="odd@example.com",
                       name="Odd", profile="Standard User", active=True, time_zone="Mars/Olympus_Mons"),
    ]
    monkeypatch.setattr(operations, "integration_username", lambda: "integration@example.com")
    monkeypatch.setattr(operations, "salesforce_client", lambda username: type(
        "Client", (), {"list_active_users": staticmethod(lambda: people)})())

    result = operations.import_users()

    zones = dict(SyncUser.objects.values_list("username", "time_zone"))
    assert zones == {"known@example.com": "Pacific/Auckland", "new@example.com": "Europe/Paris",
                     "odd@example.com": ""}  # a zone zoneinfo does not know: UTC
    assert result.updated == ["known@example.com"]
