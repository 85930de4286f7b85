"""The permission matrix: every endpoint and method of this issue, for every kind of caller.

anonymous → 401; an account without a role → 403; support reads everything and changes nothing (403);
the api role and admins do everything.
"""

import pytest

from audit.models import AuditEntry
from configurations.models import OutlookConfiguration
from tests.factories import make_configuration, make_user, salesforce_user_id
from users.models import SyncUser

pytestmark = pytest.mark.django_db

READS = [
    ("get", "/api/v1/configurations/"),
    ("get", "/api/v1/configurations/{configuration}/"),
    ("get", "/api/v1/configurations/{configuration}/users/"),
    ("get", "/api/v1/configurations/{configuration}/audit/"),
    ("get", "/api/v1/users/"),
    ("get", "/api/v1/users/{user}/"),
    ("get", "/api/v1/audit/"),
    ("get", "/api/v1/audit/{audit}/"),
]
WRITES = [
    ("post", "/api/v1/configurations/", lambda: {"name": "Brand new"}, 201),
    ("patch", "/api/v1/configurations/{configuration}/", lambda: {"description": "changed"}, 200),
    ("delete", "/api/v1/configurations/{configuration}/", lambda: None, 204),
    ("post", "/api/v1/configurations/{configuration}/assign/", lambda: {"users": ["target@example.com"]}, 200),
    ("post", "/api/v1/configurations/{configuration}/unassign/", lambda: {"users": ["assigned@example.com"]}, 200),
    ("post", "/api/v1/users/", lambda: {"salesforce_id": salesforce_user_id(9000), "username": "added@example.com",
                                        "email": "added@example.com"}, 201),
]


@pytest.fixture
def world():
    configuration = make_configuration("Sales", profiles=["Sales Rep"])
    make_user("target@example.com")
    make_user("assigned@example.com", configuration=configuration)
    user = make_user("someone@example.com", profile="Sales Rep")
    return {"configuration": configuration.pk, "user": user.pk, "audit": AuditEntry.objects.first().pk}


def state():
    """Everything a write could change."""
    return (
        list(OutlookConfiguration.objects.values_list("pk", "name", "description")),
        list(SyncUser.objects.values_list("pk", "configuration_id")),
        AuditEntry.objects.count(),
    )


def call(client, method, path, world, data=None):
    return getattr(client, method)(path.format(**world), data, format="json")


@pytest.mark.parametrize(("method", "path"), READS)
@pytest.mark.parametrize(
    ("caller", "expected"),
    [("anonymous_client", 401), ("outsider_client_api", 403), ("support_client_api", 200), ("api_client", 200),
     ("admin_client_api", 200)],
)
def test_reads(request, world, method, path, caller, expected):
    response = call(request.getfixturevalue(caller), method, path, world)
    assert response.status_code == expected, response.content


@pytest.mark.parametrize(("method", "path", "payload", "success"), WRITES)
@pytest.mark.parametrize(
    ("caller", "allowed", "denied_status"),
    [("anonymous_client", False, 401), ("outsider_client_api", False, 403), ("support_client_api", False, 403),
     ("api_client", True, None), ("admin_client_api", True, None)],
)
def test_writes(request, world, method, path, payload, success, caller, allowed, denied_status):
    before = state()
    response = call(request.getfixturevalue(caller), method, path, world, payload())
    if allowed:
        assert response.status_code == success, response.content
        assert state() != before
    else:
        assert response.status_code == denied_status, response.content
        assert state() == before


@pytest.mark.parametrize("caller", ["anonymous_client", "outsider_client_api"])
def test_denied_callers_learn_nothing_about_validity(request, world, caller):
    """Bad filters or payloads from someone without access get 401/403, not 400."""
    client = request.getfixturevalue(caller)
    expected = 401 if caller == "anonymous_client" else 403
    assert client.get("/api/v1/users/?state=bogus").status_code == expected
    assert client.post("/api/v1/configurations/", {"name": ""}, format="json").status_code == expected
    assert client.get("/api/v1/audit/?configuration=abc").status_code == expected


def test_anonymous_gets_a_token_challenge(anonymous_client):
    response = anonymous_client.get("/api/v1/configurations/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Token")


def test_session_login_works_like_a_token(client, support_user, world):
    client.force_login(support_user)
    assert client.get("/api/v1/users/").status_code == 200
    assert client.post("/api/v1/configurations/", {"name": "x"}, content_type="application/json").status_code == 403
