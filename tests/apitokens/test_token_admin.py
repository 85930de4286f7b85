"""Django's admin shows API tokens to superusers only, never a key or its hash; revoking there goes through the
service."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from apitokens.models import ApiToken
from apitokens.services import ACTION_REVOKED, issue_token
from audit.models import AuditEntry

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:apitokens_apitoken_changelist")


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", "root@example.com", "pw")


def test_superusers_see_tokens_but_never_a_key_or_hash(client, superuser, api_user):
    issued = issue_token(api_user, "CRM job")
    client.force_login(superuser)
    assert CHANGELIST.encode() in client.get(reverse("admin:index")).content
    for url in (CHANGELIST, reverse("admin:apitokens_apitoken_change", args=[issued.token.pk])):
        response = client.get(url)
        assert response.status_code == 200
        page = response.content.decode()
        assert issued.token.prefix in page
        assert issued.key not in page and issued.token.key_hash not in page
    assert client.get(reverse("admin:apitokens_apitoken_add")).status_code == 403


def test_admin_role_staff_do_not_see_or_open_tokens(client, admin_user, api_user):
    """Admin-role accounts use Django's admin site (is_staff) but are not superusers."""
    assert admin_user.is_staff and not admin_user.is_superuser
    token = issue_token(api_user, "job").token
    client.force_login(admin_user)
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200 and CHANGELIST.encode() not in index.content
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(reverse("admin:apitokens_apitoken_change", args=[token.pk])).status_code == 403
    response = client.post(CHANGELIST, {"action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 403
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_revoke_action_revokes_and_audits(client, superuser, api_user):
    tokens = [issue_token(api_user, f"t{n}").token for n in range(2)]
    client.force_login(superuser)
    response = client.post(CHANGELIST, {"action": "revoke", "_selected_action": [t.pk for t in tokens]})
    assert response.status_code == 302
    assert not ApiToken.objects.filter(revoked_at__isnull=True).exists()
    assert AuditEntry.objects.filter(action=ACTION_REVOKED, actor=superuser).count() == 2
