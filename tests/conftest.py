"""The shared cast: an admin, a support engineer, an API client and an outsider with no role."""

import pytest
from rest_framework.test import APIClient

from syncadmin.roles import ADMIN, API, SUPPORT
from syncadmin.services import create_account, issue_token

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """No persistent connections in tests: live-server threads would otherwise keep the test database open."""
    from django.conf import settings

    for database in settings.DATABASES.values():
        database["CONN_MAX_AGE"] = 0


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
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user("olive.outsider", password=PASSWORD)


def _token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(user)}")
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
