"""Issuing, revoking and checking API tokens: only a hash is stored, expiry and revocation refuse, the last use is
written at most once a minute, and issuing and revoking are audited without the key."""

import hashlib
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apitokens.models import ApiToken
from apitokens.services import (
    ACTION_ISSUED,
    ACTION_REVOKED,
    TokenRefused,
    authenticate_key,
    issue_token,
    revoke_token,
    revoke_user_tokens,
)
from audit.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_only_a_hash_of_the_key_is_stored(api_user):
    issued = issue_token(api_user, "CRM job")
    assert issued.key.startswith("sync_") and len(issued.key) >= 40
    row = ApiToken.objects.filter(pk=issued.token.pk).values().get()
    assert row["key_hash"] == hashlib.sha256(issued.key.encode()).hexdigest()
    assert row["prefix"] == issued.key[:13]
    assert not any(issued.key in str(value) for value in row.values())


def test_keys_are_random_and_distinct(api_user):
    keys = {issue_token(api_user, f"client {n}").key for n in range(20)}
    assert len(keys) == 20


def test_an_account_may_hold_several_tokens(api_user):
    first, second = issue_token(api_user, "one"), issue_token(api_user, "two")
    assert authenticate_key(first.key).pk == first.token.pk
    assert authenticate_key(second.key).pk == second.token.pk


def test_issuing_is_audited_without_the_key(api_user, admin_user):
    issued = issue_token(api_user, "CRM job", actor=admin_user)
    entry = AuditEntry.objects.get(action=ACTION_ISSUED)
    assert entry.actor == admin_user and api_user.username in entry.summary
    assert entry.changes["after"]["prefix"] == issued.token.prefix
    text = f"{entry.summary} {entry.subject} {entry.changes}"
    assert issued.key not in text and issued.token.key_hash not in text
    assert issued.token.created_by == admin_user


@pytest.mark.parametrize(
    ("name", "expires_at", "field"),
    [("", None, "name"), ("   ", None, "name"), ("x" * 101, None, "name"),
     ("ok", timezone.now() - timedelta(minutes=1), "expires_at")],
)
def test_bad_input_is_refused_naming_the_field(api_user, name, expires_at, field):
    with pytest.raises(ValidationError) as refused:
        issue_token(api_user, name, expires_at=expires_at)
    assert list(refused.value.message_dict) == [field]
    assert not ApiToken.objects.exists() and not AuditEntry.objects.exists()


def test_a_disabled_account_gets_no_token(api_user):
    api_user.is_active = False
    api_user.save()
    with pytest.raises(ValidationError) as refused:
        issue_token(api_user, "job")
    assert "user" in refused.value.message_dict


def test_unknown_key_is_refused_with_a_sentence(db):
    with pytest.raises(TokenRefused, match=r"not valid\. Check the Authorization header"):
        authenticate_key("sync_nothing-like-this")
    with pytest.raises(TokenRefused):
        authenticate_key("x" * 10_000)


def test_expired_token_is_refused(api_user):
    issued = issue_token(api_user, "job", expires_at=timezone.now() + timedelta(days=1))
    assert authenticate_key(issued.key)
    ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(TokenRefused, match=r"expired on .* Ask an admin for a new token"):
        authenticate_key(issued.key)
    assert ApiToken.objects.get(pk=issued.token.pk).state() == ApiToken.State.EXPIRED


def test_revoked_token_is_refused_and_revocation_is_audited_once(api_user, admin_user):
    issued = issue_token(api_user, "job")
    assert revoke_token(issued.token, actor=admin_user) is True
    with pytest.raises(TokenRefused, match="was revoked"):
        authenticate_key(issued.key)
    assert revoke_token(issued.token, actor=admin_user) is False
    entries = AuditEntry.objects.filter(action=ACTION_REVOKED)
    assert entries.count() == 1 and entries.get().actor == admin_user
    assert issued.token.revoked_by == admin_user and issued.token.state() == ApiToken.State.REVOKED


def test_revoking_one_token_leaves_the_others(api_user):
    kept, revoked = issue_token(api_user, "kept"), issue_token(api_user, "revoked")
    revoke_token(revoked.token)
    assert authenticate_key(kept.key)


def test_revoke_user_tokens_revokes_only_that_accounts_active_ones(api_user, admin_user):
    mine = [issue_token(api_user, f"t{n}") for n in range(3)]
    revoke_token(mine[0].token)
    other = issue_token(admin_user, "admin's")
    assert revoke_user_tokens(api_user) == 2
    assert not ApiToken.objects.filter(user=api_user, revoked_at__isnull=True).exists()
    assert authenticate_key(other.key)


def test_a_disabled_account_authenticates_nobody(api_user):
    issued = issue_token(api_user, "job")
    api_user.is_active = False
    api_user.save()
    with pytest.raises(TokenRefused, match="disabled"):
        authenticate_key(issued.key)


def _updates(queries) -> int:
    return sum(query["sql"].lstrip().upper().startswith("UPDATE") for query in queries)


def test_last_use_is_written_at_most_once_a_minute(api_user):
    issued = issue_token(api_user, "job")
    assert issued.token.last_used_at is None
    with CaptureQueriesContext(connection) as first:
        used = authenticate_key(issued.key).last_used_at
    assert used is not None and _updates(first.captured_queries) == 1
    with CaptureQueriesContext(connection) as again:
        for _ in range(5):
            authenticate_key(issued.key)
    assert _updates(again.captured_queries) == 0
    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at == used
    ApiToken.objects.filter(pk=issued.token.pk).update(last_used_at=used - timedelta(seconds=61))
    with CaptureQueriesContext(connection) as later:
        authenticate_key(issued.key)
    assert _updates(later.captured_queries) == 1
    assert ApiToken.objects.get(pk=issued.token.pk).last_used_at > used
