"""GET/PUT /api/v1/alerts/settings/ and GET /api/v1/alerts/: admins and API clients only, the secret write-only,
bad input a 400 naming the field, the list in a constant number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.models import Alert, AlertSettings, Cause, Channel
from audit.models import AuditEntry
from syncadmin.crypto import decrypt
from tests.factories import API_ROLES

SETTINGS_URL = "/api/v1/alerts/settings/"
LIST_URL = "/api/v1/alerts/"
ALLOWED = {"api_client", "admin_client_api"}
REFUSED = {"anonymous_client": 401, "outsider_client_api": 403, "support_client_api": 403}


@pytest.mark.parametrize("role", API_ROLES)
@pytest.mark.parametrize("url", [SETTINGS_URL, LIST_URL])
def test_only_admins_and_api_clients_read_alerts(db, request, role, url):
    client = request.getfixturevalue(role)
    response = client.get(url)
    assert response.status_code == (200 if role in ALLOWED else REFUSED[role])


@pytest.mark.parametrize("role", API_ROLES)
def test_only_admins_and_api_clients_change_alert_settings(db, request, role):
    client = request.getfixturevalue(role)
    response = client.put(SETTINGS_URL, {"after_minutes": 15})
    assert response.status_code == (200 if role in ALLOWED else REFUSED[role])
    assert AlertSettings.load().after_minutes == (15 if role in ALLOWED else 60)


def test_put_saves_the_settings_and_never_returns_the_secret(admin_client_api):
    body = {"emails": ["Ops@Example.com", "oncall@example.com"], "webhook_url": "https://hooks.example.com/sync",
            "webhook_secret": "s3cret-s3cret-s3cret", "after_minutes": 30, "digest": True,
            "api_share_threshold": 0.9}
    response = admin_client_api.put(SETTINGS_URL, body)
    assert response.status_code == 200, response.json()
    assert response.json() == {"emails": ["ops@example.com", "oncall@example.com"],
                               "webhook_url": "https://hooks.example.com/sync", "webhook_secret_set": True,
                               "after_minutes": 30, "digest": True, "api_share_threshold": 0.9}
    assert "s3cret" not in admin_client_api.get(SETTINGS_URL).content.decode()
    row = AlertSettings.load()
    assert decrypt(row.webhook_secret_encrypted) == "s3cret-s3cret-s3cret"
    entry = AuditEntry.objects.get(action=AuditEntry.Action.ALERT_SETTINGS_CHANGED)
    assert "s3cret" not in str(entry.changes)
    # A later PUT without the secret keeps it.
    assert admin_client_api.put(SETTINGS_URL, {"digest": False}).json()["webhook_secret_set"] is True


@pytest.mark.parametrize(("body", "field"), [
    ({"after_minutes": "soon"}, "after_minutes"),
    ({"after_minutes": 0}, "after_minutes"),
    ({"emails": ["not an address"]}, "emails"),
    ({"emails": "ops@example.com"}, None),  # a single string is read as a list of one
    ({"api_share_threshold": 1.5}, "api_share_threshold"),
    ({"digest": "yes"}, "digest"),
    ({"webhook_url": "https://hooks.example.com/x"}, "webhook_secret"),  # a webhook needs a secret
    ({"webhook_url": "https://169.254.169.254/", "webhook_secret": "0123456789abcdef"}, "webhook_url"),
    ({"webhook_url": "https://hooks.example.com/x", "webhook_secret": "short"}, "webhook_secret"),
    ({"colour": "red"}, "non_field_errors"),
])
def test_bad_settings_are_a_400_naming_the_field(admin_client_api, body, field):
    response = admin_client_api.put(SETTINGS_URL, body)
    if field is None:
        assert response.status_code == 200
        return
    assert response.status_code == 400
    errors = response.json()
    assert field in errors, errors
    assert all(message.endswith(".") for message in errors[field])


def test_a_put_with_a_list_body_is_a_400(admin_client_api):
    response = admin_client_api.put(SETTINGS_URL, [1, 2], format="json")
    assert response.status_code == 400


def test_the_list_shows_when_cause_users_channel_and_delivery(admin_client_api):
    for n in range(30):
        Alert.objects.create(cause=Cause.NEEDS_ATTENTION, cause_key=f"needs_attention:C{n}", code=f"C{n}",
                             subject="s", body="b", users=["a@example.com"], user_count=1, channel=Channel.EMAIL,
                             recipients=["ops@example.com"], state=Alert.State.DELIVERED)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client_api.get(LIST_URL)
    assert response.status_code == 200
    first = response.json()["results"][0]
    assert {"when", "cause", "users", "channel", "delivered"} <= set(first)
    assert (first["cause"], first["users"], first["channel"], first["delivered"]) == (
        "needs_attention", ["a@example.com"], "email", True)
    assert len(queries) <= 6
