"""Issue 15 item 12: the delete-configuration page names the configuration each group of its users falls back to,
and says "their syncs stop" only for those who have none."""

import html

import pytest
from django.urls import reverse

from tests.factories import make_configuration, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _sentences(page) -> str:
    return html.unescape(" ".join(page.content.decode().split()))


def test_direct_users_fall_back_to_their_profiles_configuration_by_name(admin_client):
    old = make_configuration("Old", profiles=["Old Profile"])
    emea = make_configuration("Sales EMEA", profiles=["Sales Rep", "Sales Manager"])
    paused = make_configuration("Paused", profiles=["Support Rep"], active=False)
    make_user(configuration=old, profile="Sales Rep")
    make_user(configuration=old, profile="Sales Rep")
    make_user(configuration=old, profile="Sales Manager")
    make_user(configuration=old, profile="Support Rep")
    make_user(configuration=old, profile="Custom")
    make_user(profile="Old Profile")
    text = _sentences(admin_client.get(reverse("configurations:delete", args=[old.pk])))
    emea_link = reverse("configurations:detail", args=[emea.pk])
    assert (
        "3 users</strong> directly assigned (profiles Sales Manager, Sales Rep) fall back to "
        f'<a href="{emea_link}">“Sales EMEA”</a>, which has their profiles: from then on they sync with its '
        "settings."
    ) in text
    paused_link = reverse("configurations:detail", args=[paused.pk])
    assert (
        "1 user</strong> directly assigned (profile Support Rep) falls back to "
        f'<a href="{paused_link}">“Paused”</a>, which has this profile but is inactive: this user\'s sync stops '
        "until it is activated."
    ) in text
    assert (
        "1 user</strong> directly assigned (profile Custom) has no other configuration to fall back to: this "
        "user's sync stops."
    ) in text
    assert (
        "1 user</strong> through the profile Old Profile loses its configuration (the profile becomes "
        "unassigned): this user's sync stops."
    ) in text
    assert "Their syncs stop" not in text


def test_a_configuration_nobody_has_says_deleting_it_stops_nothing(admin_client):
    lonely = make_configuration("Lonely", profiles=["Nobody's Profile"])
    text = _sentences(admin_client.get(reverse("configurations:delete", args=[lonely.pk])))
    assert (
        "Nobody has this configuration (its profile Nobody's Profile has no synced users): deleting it stops no sync."
    ) in text
