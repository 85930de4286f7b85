"""Issue 15 item 12: admins create support (and admin) accounts in the console, with a generated password shown once or
a given one, change roles, give a new password and deactivate; every change is audited, and the checks that keep
somebody able to administer the console hold."""

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from syncadmin import services
from syncadmin.roles import ADMIN, API, SUPPORT, role_of
from tests.conftest import PASSWORD
from tests.factories import make_token

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _logs_in(username: str, password: str) -> bool:
    return Client().login(username=username, password=password)


# The services


def test_add_account_generates_a_password_that_logs_in_and_audits_without_it(admin_user):
    added = services.add_account("sue.support", SUPPORT, email="sue@example.com", actor=admin_user)
    assert added.generated_password and len(added.generated_password) >= 16
    assert role_of(added.user) == SUPPORT and not added.user.is_staff
    assert _logs_in("sue.support", added.generated_password)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.ACCOUNT_CREATED)
    assert entry.actor == admin_user and entry.subject == "account sue.support"
    assert entry.changes["after"] == {
        "username": "sue.support",
        "email": "sue@example.com",
        "role": SUPPORT,
        "password": "generated",
    }
    assert added.generated_password not in str(entry.changes) + entry.summary


def test_add_account_with_a_given_password_and_an_api_account_without_one(admin_user):
    given = services.add_account("ann.admin", ADMIN, password="a long given passphrase", actor=admin_user)
    assert given.generated_password is None and given.user.is_staff
    assert _logs_in("ann.admin", "a long given passphrase")
    api = services.add_account("crm-bot", API, actor=admin_user)
    assert api.generated_password is None and not api.user.has_usable_password()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"username": "", "role": SUPPORT}, "username"),
        ({"username": "has space", "role": SUPPORT}, "username"),
        ({"username": "ada.admin", "role": SUPPORT}, "username"),  # exists (the admin_user fixture)
        ({"username": "ADA.ADMIN", "role": SUPPORT}, "username"),  # exists, whatever the case
        ({"username": "new", "role": "root"}, "role"),
        ({"username": "new", "role": SUPPORT, "password": "123"}, "password"),
        ({"username": "new", "role": API, "password": "a long given passphrase"}, "password"),
        ({"username": "new", "role": SUPPORT, "email": "not an address"}, "email"),
    ],
)
def test_add_account_refuses_bad_input_naming_the_field(admin_user, values, field):
    values = dict(values)
    with pytest.raises(ValidationError) as refused:
        services.add_account(values.pop("username"), values.pop("role"), actor=admin_user, **values)
    assert field in refused.value.message_dict
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.ACCOUNT_CREATED).exists()


def test_change_role_is_audited_and_guarded(admin_user, support_user):
    assert services.change_role(support_user, ADMIN, actor=admin_user) is True
    support_user.refresh_from_db()
    assert role_of(support_user) == ADMIN and support_user.is_staff
    assert services.change_role(support_user, ADMIN, actor=admin_user) is False
    entry = AuditEntry.objects.get(action=AuditEntry.Action.ACCOUNT_ROLE_CHANGED)
    assert entry.changes == {"before": {"role": SUPPORT}, "after": {"role": ADMIN}}
    with pytest.raises(ValidationError, match="your own account"):
        services.change_role(admin_user, SUPPORT, actor=admin_user)
    root = User.objects.create_superuser("root", "", "pw")
    with pytest.raises(ValidationError, match="superuser"):
        services.change_role(root, SUPPORT, actor=admin_user)


def test_the_last_active_admin_keeps_the_role(admin_user, support_user):
    with pytest.raises(ValidationError, match="only active admin"):
        services.change_role(admin_user, SUPPORT, actor=support_user)
    with pytest.raises(ValidationError, match="only active admin"):
        services.deactivate_account(admin_user, actor=support_user)


def test_an_admin_who_is_no_superuser_cannot_take_over_or_stop_a_superuser(admin_user):
    root = User.objects.create_superuser("root", "", "pw")
    with pytest.raises(ValidationError, match="only another superuser"):
        services.reset_password(root, actor=admin_user)
    with pytest.raises(ValidationError, match="only another superuser"):
        services.deactivate_account(root, actor=admin_user)
    other_root = User.objects.create_superuser("root2", "", "pw")
    assert services.reset_password(root, actor=other_root)


def test_making_an_account_api_takes_its_console_login(admin_user, support_user):
    services.change_role(support_user, API, actor=admin_user)
    assert not _logs_in(support_user.username, PASSWORD)


def test_deactivate_ends_logins_and_tokens_and_reactivate_brings_them_back(admin_user, support_user, api_user):
    assert services.deactivate_account(support_user, actor=admin_user) is True
    assert services.deactivate_account(support_user, actor=admin_user) is False
    assert not _logs_in(support_user.username, PASSWORD)
    key = make_token(api_user)
    services.deactivate_account(api_user, actor=admin_user)
    assert Client().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 401
    assert services.reactivate_account(support_user, actor=admin_user) is True
    assert _logs_in(support_user.username, PASSWORD)
    actions = list(AuditEntry.objects.filter(subject__startswith="account ").values_list("action", flat=True))
    assert sorted(actions) == sorted(
        [
            AuditEntry.Action.ACCOUNT_DEACTIVATED,
            AuditEntry.Action.ACCOUNT_DEACTIVATED,
            AuditEntry.Action.ACCOUNT_REACTIVATED,
        ]
    )
    with pytest.raises(ValidationError, match="your own account"):
        services.deactivate_account(admin_user, actor=admin_user)


def test_reset_password_gives_a_new_one_and_ends_the_old(admin_user, support_user):
    password = services.reset_password(support_user, actor=admin_user)
    assert not _logs_in(support_user.username, PASSWORD)
    assert _logs_in(support_user.username, password)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.ACCOUNT_PASSWORD_RESET)
    assert password not in str(entry.changes) + entry.summary


# The page


def test_the_page_lists_accounts_with_their_roles(admin_client, support_user, api_user):
    page = admin_client.get(reverse("accounts:list"))
    assert page.status_code == 200
    assert page["Cache-Control"].startswith("max-age=0") or "no-cache" in page["Cache-Control"]
    roles = {row["account"].username: row["role"] for row in page.context["rows"]}
    assert roles == {"ada.admin": ADMIN, "sam.support": SUPPORT, "integration-bot": API}


def test_creating_shows_the_generated_password_once(admin_client):
    page = admin_client.post(
        reverse("accounts:list"),
        {"username": "sue.support", "email": "", "role": SUPPORT, "password_choice": "generate", "password": ""},
    )
    assert page.status_code == 200
    password = page.context["shown"]["password"]
    assert password in page.content.decode()
    assert "Account sue.support created with the support role" in page.content.decode()
    assert _logs_in("sue.support", password)
    assert password not in admin_client.get(reverse("accounts:list")).content.decode()


def test_a_bad_form_is_a_400_with_the_message_beside_the_field(admin_client):
    page = admin_client.post(
        reverse("accounts:list"), {"username": "ada.admin", "role": SUPPORT, "password_choice": "given", "password": ""}
    )
    assert page.status_code == 400
    text = page.content.decode()
    assert 'id="id_password-error"' in text and "Type the password to set" in text


def test_role_changes_and_refusals_come_back_as_sentences(admin_client, admin_user, support_user):
    response = admin_client.post(reverse("accounts:role", args=[support_user.pk]), {"role": ADMIN}, follow=True)
    assert "sam.support now has the admin role" in response.content.decode()
    response = admin_client.post(reverse("accounts:deactivate", args=[admin_user.pk]), follow=True)
    assert "You cannot deactivate your own account" in response.content.decode()
    response = admin_client.post(reverse("accounts:role", args=[support_user.pk]), {"role": "root"}, follow=True)
    assert "Choose a role: admin, support, api." in response.content.decode()


def test_support_staff_are_refused_the_page(client, support_user):
    client.force_login(support_user)
    assert client.get(reverse("accounts:list")).status_code == 403
    assert client.post(reverse("accounts:deactivate", args=[support_user.pk])).status_code == 403


def test_anyone_with_a_console_role_changes_their_own_password(client, support_user):
    assert client.login(username=support_user.username, password=PASSWORD)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a brand new passphrase",
            "new_password2": "a brand new passphrase",
        },
        follow=True,
    )
    assert "Your password is changed." in response.content.decode()
    assert _logs_in(support_user.username, "a brand new passphrase")
