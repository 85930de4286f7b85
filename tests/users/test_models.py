"""Synced users' model rules: Salesforce ids, normalised names, one state row per object, the roles' actions."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from tests.factories import make_user, salesforce_user_id
from users.models import UserObjectState, normalize_user_id, salesforce_id_checksum
from users.services import ensure_object_states, find_user


def test_checksum_matches_salesforce():
    # A published example: 001A0000006Vm9r → 001A0000006Vm9rIAC
    assert salesforce_id_checksum("001A0000006Vm9r") == "IAC"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0058d0000000001", "0058d0000000001AAA"), ("0058d0000000001AAA", "0058d0000000001AAA")],
)
def test_user_ids_normalise_to_18_characters(value, expected):
    assert normalize_user_id(value) == expected


@pytest.mark.parametrize(
    "value", ["", "005", "0018d0000000001AAA", "0058d0000000001AAB", "0058d000000000!AAA", "0058d0000000001AAAX", 5]
)
def test_bad_user_ids(value):
    with pytest.raises(ValidationError):
        normalize_user_id(value)


@pytest.mark.django_db
def test_usernames_and_mailboxes_are_stored_lower_case():
    user = make_user("Ann.Example@Example.COM", email="Ann@Example.COM")
    user.refresh_from_db()
    assert (user.username, user.email) == ("ann.example@example.com", "ann@example.com")


@pytest.mark.django_db
def test_one_state_row_per_user_and_object():
    user = make_user()
    ensure_object_states([user])  # idempotent
    assert sorted(UserObjectState.objects.filter(user=user).values_list("object", flat=True)) == [
        "contacts", "events", "tasks"]
    with pytest.raises(IntegrityError):
        UserObjectState.objects.create(user=user, object="contacts")


@pytest.mark.django_db
def test_find_user_by_any_identifier():
    user = make_user("ann@example.com", email="ann.mailbox@example.com", salesforce_id=salesforce_user_id(77))
    for identifier in (user.pk, str(user.pk), "ANN@example.com", "ann.mailbox@example.com", user.salesforce_id,
                       user.salesforce_id[:15]):
        assert find_user(identifier) == user
    assert find_user("nobody@example.com") is None


@pytest.mark.django_db
def test_support_holds_the_actions_the_roles_name():
    from django.contrib.auth.models import Group

    support = Group.objects.get(name="support")
    codenames = set(support.permissions.filter(content_type__app_label="users").values_list("codename", flat=True))
    assert {"sync_now", "reset_sync", "test_connection", "view_syncuser", "view_userobjectstate"} <= codenames
    assert "change_syncuser" not in codenames
    assert not support.permissions.filter(content_type__app_label="configurations").exclude(
        codename__startswith="view_").exists()
