"""The operations on API tokens: issue one (its key is returned once, never stored), revoke one, and check a key
presented by a client. Issuing and revoking are atomic and audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apitokens.keys import MAX_KEY_LENGTH, hash_key, new_key, prefix_of
from apitokens.models import ApiToken
from audit.models import AuditEntry
from audit.services import record

ACTION_ISSUED = AuditEntry.Action.API_TOKEN_ISSUED
ACTION_REVOKED = AuditEntry.Action.API_TOKEN_REVOKED

# `last_used_at` is written at most this often per token: one UPDATE a minute, not one per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)
NAME_MAX_LENGTH = ApiToken._meta.get_field("name").max_length


class TokenRefused(Exception):
    """A presented key authenticates nobody; the message says why and what to do."""


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    key: str  # shown once to whoever asked for it; only its hash is kept


def _person(actor):
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def _described(token: ApiToken) -> dict:
    """What the audit trail keeps of a token: never the key or its hash."""
    return {
        "owner": token.user.get_username(),
        "name": token.name,
        "prefix": token.prefix,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }


@transaction.atomic
def issue_token(user, name: str, *, expires_at: datetime | None = None, actor=None) -> IssuedToken:
    """A new token for ``user``. Raises ``ValidationError`` naming the field (``name``, ``expires_at``, ``user``)."""
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Give the token a name that says who uses it, for example the integration's name."]
    elif len(name) > NAME_MAX_LENGTH:
        errors["name"] = [f"The name is {len(name)} characters long; use at most {NAME_MAX_LENGTH}."]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = ["The expiry is in the past; choose a later date or no expiry."]
    if not user.is_active:
        errors["user"] = [f"The account {user.get_username()!r} is disabled; enable it before giving it a token."]
    if errors:
        raise ValidationError(errors)
    key = new_key()
    token = ApiToken.objects.create(
        user=user, name=name, prefix=prefix_of(key), key_hash=hash_key(key), expires_at=expires_at,
        created_by=_person(actor),
    )
    record(
        ACTION_ISSUED, actor,
        subject=f"API token {token.prefix}… of {user.get_username()}",
        summary=f"Issued API token {name!r} for {user.get_username()}",
        changes={"after": _described(token)},
    )
    return IssuedToken(token, key)


@transaction.atomic
def revoke_token(token: ApiToken, *, actor=None) -> bool:
    """Revoke the token (it authenticates nobody from now on); False if it was already revoked."""
    now = timezone.now()
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=now, revoked_by=_person(actor)
    )
    token.refresh_from_db()
    if not changed:
        return False
    record(
        ACTION_REVOKED, actor,
        subject=f"API token {token.prefix}… of {token.user.get_username()}",
        summary=f"Revoked API token {token.name!r} of {token.user.get_username()}",
        changes={"before": _described(token)},
    )
    return True


def revoke_user_tokens(user, *, actor=None) -> int:
    """Revoke every token of the account that is not revoked yet; how many were revoked."""
    with transaction.atomic():
        tokens = list(ApiToken.objects.select_related("user").filter(user=user, revoked_at__isnull=True))
        return sum(revoke_token(token, actor=actor) for token in tokens)


def authenticate_key(key: str) -> ApiToken:
    """The active token whose key this is, its last use stamped; raises ``TokenRefused`` with a sentence."""
    token = None
    if key and len(key) <= MAX_KEY_LENGTH:
        token = ApiToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()
    if token is None:
        raise TokenRefused("This API token is not valid. Check the Authorization header (Token <key>), or ask an "
                           "admin for a new token.")
    now = timezone.now()
    state = token.state(now)
    if state == ApiToken.State.REVOKED:
        raise TokenRefused(f"API token {token.prefix}… was revoked. Ask an admin for a new token.")
    if state == ApiToken.State.EXPIRED:
        expired = token.expires_at.astimezone(UTC)
        raise TokenRefused(f"API token {token.prefix}… expired on {expired:%Y-%m-%d %H:%M} UTC. Ask an admin for a "
                           "new token.")
    if not token.user.is_active:
        raise TokenRefused(f"The account of API token {token.prefix}… is disabled. Ask an admin to enable it.")
    if token.last_used_at is None or token.last_used_at <= now - LAST_USED_RESOLUTION:
        # Compare-and-set: of concurrent requests in the same minute, one writes.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token
