import pytest
from django.conf import global_settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from apitokens.services import TokenRefused, authenticate_key
from syncadmin import settings as project_settings
from syncadmin.roles import ROLES, role_of
from tests.conftest import PASSWORD


@pytest.mark.django_db
def test_roles_exist_after_migrate():
    assert set(Group.objects.filter(name__in=ROLES).values_list("name", flat=True)) == set(ROLES)


def test_login_page_renders(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content and b"/static/vendor/bootstrap/" in response.content


def test_dashboard_requires_login(client, db):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("who", ["admin_user", "support_user"])
def test_console_roles_see_dashboard(client, request, who):
    user = request.getfixturevalue(who)
    assert client.login(username=user.username, password=PASSWORD)
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert b"System health" in response.content
    assert b"Configurations" in response.content  # navigation


def test_outsider_is_refused_by_the_console(client, outsider):
    client.force_login(outsider)
    assert client.get(reverse("dashboard")).status_code == 403


def test_api_account_has_no_console(client, api_user):
    client.force_login(api_user)
    assert client.get(reverse("dashboard")).status_code == 403


def test_the_product_stores_passwords_with_a_slow_hash():
    """Tests hash with MD5 for speed (tests/conftest.py); the product itself keeps Django's PBKDF2 first."""
    hashers = getattr(project_settings, "PASSWORD_HASHERS", global_settings.PASSWORD_HASHERS)
    assert hashers[0] == "django.contrib.auth.hashers.PBKDF2PasswordHasher"


def test_tests_hash_passwords_fast(admin_user):
    assert admin_user.password.startswith("md5$")


def test_login_with_wrong_password_says_so(client, admin_user):
    response = client.post(reverse("login"), {"username": admin_user.username, "password": "wrong"})
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content


def test_api_anonymous_gets_401(anonymous_client, db):
    response = anonymous_client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_api_bad_token_gets_401(anonymous_client, db):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anonymous_client.get("/api/v1/me/").status_code == 401


@pytest.mark.parametrize(
    ("client_fixture", "role"),
    [("admin_client_api", "admin"), ("support_client_api", "support"), ("api_client", "api"),
     ("outsider_client_api", None)],
)
def test_api_token_authenticates_with_role(request, client_fixture, role):
    response = request.getfixturevalue(client_fixture).get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["role"] == role


def test_createtoken_prints_token_last(db, capsys):
    """Only a hash is kept, so each call issues another token; --rotate revokes the earlier ones."""
    call_command("createtoken", "robot", "--create", "--role", "api")
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert authenticate_key(token).user.username == "robot"
    call_command("createtoken", "robot")
    second = capsys.readouterr().out.strip().splitlines()[-1]
    assert second != token and authenticate_key(token) and authenticate_key(second)
    call_command("createtoken", "robot", "--rotate")
    third = capsys.readouterr().out.strip().splitlines()[-1]
    assert authenticate_key(third).user.username == "robot"
    for revoked in (token, second):
        with pytest.raises(TokenRefused, match="revoked"):
            authenticate_key(revoked)


def test_createtoken_changes_role(db, capsys, support_user):
    call_command("createtoken", support_user.username, "--role", "admin")
    support_user.refresh_from_db()
    assert role_of(support_user) == "admin" and support_user.is_staff


def test_createtoken_unknown_user_without_create_fails(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="add --create"):
        call_command("createtoken", "nobody")


def test_ensure_admin_creates_once(db, settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    call_command("ensure_admin")
    first = capsys.readouterr().out
    assert "Created the admin account" in first
    assert (tmp_path / "admin-login.txt").stat().st_mode & 0o077 == 0
    call_command("ensure_admin")
    assert "Created" not in capsys.readouterr().out
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.filter(is_superuser=True).count() == 1


def test_api_docs_and_schema_served_offline(admin_client_api, client, admin_user):
    assert admin_client_api.get("/api/schema/").status_code == 200
    client.force_login(admin_user)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()
