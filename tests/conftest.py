"""What every test shares: fast password hashing, the Hypothesis profiles, the e2e and browser markers by folder,
and the cast (an admin, a support engineer, an API client and an outsider with no role).

Hypothesis profiles, chosen with HYPOTHESIS_PROFILE (default `ci`):

- `ci`: what `make test` runs (tests/engine in under 10 s on two cores); derandomized, so every run checks the
  same examples.
- `long`: many more and longer runs, for a night or before a release:
  `HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/engine -q`.
- `dev`: a quick smoke run while editing.
- `noshrink`: like `ci` but reports the first failure unshrunk (fast when checking that a deliberate bug in
  the engine is caught).

A test may set its own `max_examples` with `@settings(...)`, fewer where each example is slow (a sandbox or database
round trip) or more where examples are cheap and guard security, with a comment saying why. Everything else comes
from the profile.
"""

import os
from pathlib import Path

import hypothesis
import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest
from django.test import Client, override_settings
from rest_framework.test import APIClient

from configurations.services import create_configuration
from syncadmin.roles import ADMIN, API, SUPPORT
from syncadmin.services import create_account
from tests.factories import make_token
from users.services import add_sync_user, assign_users

PASSWORD = "correct horse battery staple"
TESTS = Path(__file__).resolve().parent

# `ci` is derandomized: every CI run checks the same examples, so a landing never hinges on luck; exploring new
# examples is what `long` (and `dev`) are for. Slow examples are expected (sandbox round trips), hence no deadline.
hypothesis.settings.register_profile(
    "ci", max_examples=60, stateful_step_count=40, deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow], derandomize=True, database=None,
)
hypothesis.settings.register_profile(
    "long", max_examples=5000, stateful_step_count=80, deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.register_profile(
    "noshrink", hypothesis.settings.get_profile("ci"), phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)
hypothesis.settings.register_profile(
    "dev", max_examples=20, stateful_step_count=20, deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Tests under these folders start real processes or a browser: `make test-fast` leaves them out by marker, so the
# marker comes from the folder and a new file there cannot forget it.
MARKED_FOLDERS = {"e2e": pytest.mark.e2e, "browser": pytest.mark.browser}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.is_relative_to(TESTS) and (marker := MARKED_FOLDERS.get(item.path.relative_to(TESTS).parts[0])):
            item.add_marker(marker)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """No persistent connections in tests: live-server threads would otherwise keep the test database open."""
    for database in django_settings.DATABASES.values():
        database["CONN_MAX_AGE"] = 0


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing(django_test_environment):
    """MD5 instead of PBKDF2 for the whole session: real hashing costs about 0.4 s per account created.

    Session-wide in this process, so live-server and browser tests' accounts are covered too; override_settings
    (not an assignment) so Django's cached hasher list is reset. The product's own hashers are pinned by
    tests/syncadmin/test_auth.py.
    """
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _test_client_logins_are_counted(monkeypatch):
    """Login throttling (django-axes) stays on in tests, with its real limit.

    Django's test client authenticates without a request, which axes refuses (a login it cannot attribute is one it
    cannot count), so `client.login(...)` here carries one from the test client's address, as a browser's login
    does. Axes keeps its counts in the database, so every test starts with none: pytest-django rolls each test back
    (or flushes the database after a transactional one). tests/syncadmin/test_logins.py holds the lockout itself.
    """
    original = Client.login

    def login(self, **credentials):
        if "request" not in credentials:
            request = HttpRequest()
            request.META["REMOTE_ADDR"] = "127.0.0.1"
            credentials["request"] = request
        return original(self, **credentials)

    monkeypatch.setattr(Client, "login", login)


@pytest.fixture
def admin_user(db):
    return create_account("ada.admin", ADMIN, password=PASSWORD)


@pytest.fixture
def support_user(db):
    return create_account("sam.support", SUPPORT, password=PASSWORD)


@pytest.fixture
def api_user(db):
    return create_account("integration-bot", API)


@pytest.fixture
def outsider(db):
    return get_user_model().objects.create_user("olive.outsider", password=PASSWORD)


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {make_token(user)}")
    return client


@pytest.fixture
def anonymous_client():
    return APIClient()


@pytest.fixture
def admin_client_api(admin_user):
    return _token_client(admin_user)


@pytest.fixture
def support_client_api(support_user):
    return _token_client(support_user)


@pytest.fixture
def api_client(api_user):
    return _token_client(api_user)


@pytest.fixture
def outsider_client_api(outsider):
    return _token_client(outsider)


class Enqueued(list):
    """The runs sent through the queue seam, in order; `queues` says where each was sent."""

    def __init__(self):
        super().__init__()
        self.queues: list[str] = []


@pytest.fixture
def enqueued(monkeypatch) -> Enqueued:
    """The queue seam without a broker: records what `sync.queue.enqueue_runs` sends instead of publishing it."""
    sent = Enqueued()

    def send_run(run, *, queue: str) -> None:
        sent.append(run)
        sent.queues.append(queue)

    monkeypatch.setattr("sync.queue.send_run", send_run)
    return sent


@pytest.fixture
def contacts_user(db):
    """Ben, a synced user whose configuration syncs contacts both ways."""
    user = add_sync_user({"salesforce_id": "005000000000001", "username": "ben@example.com",
                          "email": "ben@example.com"})
    configuration = create_configuration({"name": "Sales", "data_settings": {
        "contacts": {"direction": "both", "conflict_behavior": "salesforce_wins"}}})
    assign_users(configuration, [user.username])
    return user


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """The three emulators, empty, for one test module (tests/e2e shares one for the whole session instead)."""
    from sandbox.runner import start_sandbox

    running = start_sandbox(tmp_path_factory.mktemp("sandbox"), seed="empty")
    yield running
    running.stop()


@pytest.fixture
def connected(sandbox):
    """The sandbox, with the product's connections pointing at its emulators."""
    from sandbox.services import connect_to_sandbox

    connect_to_sandbox(sandbox.hub.data_dir, sandbox.salesforce_url, sandbox.ews_endpoint, sandbox.graph_url)
    return sandbox
