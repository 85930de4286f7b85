"""The console's API tokens page: admins list, issue (the key shown once) and revoke tokens; support, API-only and
role-less accounts are refused, anonymous visitors sent to the login page."""

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apitokens.models import ApiToken
from apitokens.services import ACTION_ISSUED, issue_token
from audit.models import AuditEntry

pytestmark = pytest.mark.django_db
PAGE = reverse("apitokens:list")


def revoke_url(token) -> str:
    return reverse("apitokens:revoke", args=[token.pk])


@pytest.fixture
def admin_console(client, admin_user):
    client.force_login(admin_user)
    return client


def works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/me/").status_code == 200


def test_anonymous_visitors_are_sent_to_the_login_page(client, api_user):
    token = issue_token(api_user, "job").token
    for response in (client.get(PAGE), client.post(PAGE, {"user": api_user.pk, "name": "x"}),
                     client.post(revoke_url(token))):
        assert response.status_code == 302 and response.url.startswith(reverse("login"))
    assert ApiToken.objects.count() == 1 and ApiToken.objects.get().revoked_at is None


@pytest.mark.parametrize("who", ["support_user", "api_user", "outsider"])
def test_other_roles_are_refused(client, request, who, api_user):
    token = issue_token(api_user, "job").token
    client.force_login(request.getfixturevalue(who))
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, {"user": api_user.pk, "name": "sneaky"}).status_code == 403
    assert client.post(revoke_url(token)).status_code == 403
    assert ApiToken.objects.count() == 1 and ApiToken.objects.get().revoked_at is None


def test_admins_see_every_token_without_its_key(admin_console, api_user, admin_user):
    issued = issue_token(api_user, "CRM job")
    issue_token(admin_user, "my laptop")
    response = admin_console.get(PAGE)
    assert response.status_code == 200
    page = response.content.decode()
    for text in ("CRM job", "my laptop", issued.token.prefix, api_user.username, "active", "never"):
        assert text in page
    assert issued.key not in page and issued.token.key_hash not in page


def test_the_navigation_links_the_page_for_admins_only(client, admin_user, support_user):
    client.force_login(admin_user)
    assert f'href="{PAGE}"'.encode() in client.get(reverse("dashboard")).content
    client.force_login(support_user)
    assert f'href="{PAGE}"'.encode() not in client.get(reverse("dashboard")).content


def test_issuing_shows_the_key_once(admin_console, api_user, admin_user):
    response = admin_console.post(PAGE, {"user": api_user.pk, "name": "CRM job", "expires_in": "90"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get()
    key = response.context["issued"].key
    assert key.startswith(token.prefix) and key in response.content.decode()
    assert "it is not shown again" in response.content.decode()
    assert works(key)
    assert token.user == api_user and token.created_by == admin_user and token.expires_at is not None
    assert AuditEntry.objects.filter(action=ACTION_ISSUED, actor=admin_user).count() == 1
    assert key not in admin_console.get(PAGE).content.decode()


@pytest.mark.parametrize(
    ("data", "field"),
    [({"user": "", "name": "job"}, "user"), ({"user": "999999", "name": "job"}, "user"), ({"name": ""}, "name"),
     ({"name": "job", "expires_in": "7"}, "expires_in"), ({"name": "x" * 101}, "name")],
)
def test_bad_input_gets_400_naming_the_field(admin_console, api_user, data, field):
    data = {"user": api_user.pk, **data}
    response = admin_console.post(PAGE, data)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert not ApiToken.objects.exists()


def test_a_disabled_account_cannot_be_chosen(admin_console, api_user):
    api_user.is_active = False
    api_user.save()
    response = admin_console.post(PAGE, {"user": api_user.pk, "name": "job"})
    assert response.status_code == 400 and "user" in response.context["form"].errors


def test_revoking_stops_the_token(admin_console, api_user, admin_user):
    issued = issue_token(api_user, "job")
    response = admin_console.post(revoke_url(issued.token), follow=True)
    assert response.redirect_chain[-1][0] == PAGE
    assert "authenticates nobody from now on" in response.content.decode()
    issued.token.refresh_from_db()
    assert issued.token.revoked_by == admin_user and not works(issued.key)
    again = admin_console.post(revoke_url(issued.token), follow=True)
    assert "already revoked" in again.content.decode()


def test_revoking_needs_post(admin_console, api_user):
    token = issue_token(api_user, "job").token
    assert admin_console.get(revoke_url(token)).status_code == 405
    assert admin_console.post(reverse("apitokens:revoke", args=[token.pk + 1000])).status_code == 404


def test_forms_need_the_csrf_token(admin_user, api_user):
    token = issue_token(api_user, "job").token
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    assert client.post(revoke_url(token)).status_code == 403
    assert client.post(PAGE, {"user": api_user.pk, "name": "job"}).status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None and ApiToken.objects.count() == 1
