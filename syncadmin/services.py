"""Operations on the console's own accounts (roles and API tokens), and on the key of the stored secrets."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from apitokens import services as apitokens
from audit import services as audit
from audit.models import AuditEntry
from sync.models import Connection
from syncadmin import crypto
from syncadmin.roles import ADMIN, API, ROLES, ensure_roles

User = get_user_model()


@transaction.atomic
def set_role(user, role: str) -> None:
    """Give the account exactly one role; admins may also use Django's admin site."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if Group.objects.filter(name__in=ROLES).count() != len(ROLES):
        ensure_roles()
    user.groups.remove(*Group.objects.filter(name__in=ROLES))
    user.groups.add(Group.objects.get(name=role))
    user.is_staff = role == ADMIN
    user.save(update_fields=["is_staff"])


@transaction.atomic
def create_account(username: str, role: str, password: str | None = None, email: str = ""):
    """An account with a role; API accounts get no password (they authenticate with a token only)."""
    user = User(username=username, email=email)
    if password and role != API:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    set_role(user, role)
    return user


def issue_token(user, rotate: bool = False, *, name: str = "createtoken", expires_at=None, actor=None) -> str:
    """A new API token for the account, as its key (shown once: only its hash is kept); ``rotate`` first revokes
    the account's other tokens."""
    with transaction.atomic():
        if rotate:
            apitokens.revoke_user_tokens(user, actor=actor)
        return apitokens.issue_token(user, name, expires_at=expires_at, actor=actor).key


@transaction.atomic
def ensure_initial_admin(username: str = "admin") -> tuple[object, str | None]:
    """Create the first admin if no admin exists; return it and its new password (None if it existed)."""
    existing = User.objects.filter(is_superuser=True).order_by("pk").first()
    if existing is None:
        existing = User.objects.filter(groups__name=ADMIN).order_by("pk").first()
    if existing is not None:
        return existing, None
    password = secrets.token_urlsafe(12)
    user = User.objects.create_superuser(username=username, email="", password=password)
    set_role(user, ADMIN)
    return user, password


@transaction.atomic
def rotate_stored_secrets(actor=None) -> int:
    """Re-encrypt every stored secret with the first key of ``SECRETS_KEY``; answers how many were re-encrypted.

    All or nothing: a secret that no configured key decrypts raises ``crypto.SecretUnreadable`` naming its
    connection, and nothing is changed. Each connection gets an audit entry (the secret "re-encrypted", never its
    value); the settings, and so ``updated_at``, stay as they were. Connections are the only stored secrets today
    (tests/syncadmin/test_secrets_key.py fails when a model gains another encrypted field).
    """
    rotated = 0
    for connection in Connection.objects.select_for_update().exclude(secret_encrypted="").order_by("kind"):
        label = f"{connection.get_kind_display()} connection"
        try:
            connection.secret_encrypted = crypto.rotate(connection.secret_encrypted)
        except crypto.SecretUnreadable as exc:
            raise crypto.SecretUnreadable(
                f"The {label}'s secret cannot be decrypted with any key in SECRETS_KEY: put the key it was saved "
                "with back in the list (after the new one), or enter the secret again; nothing was re-encrypted."
            ) from exc
        Connection.objects.filter(pk=connection.pk).update(secret_encrypted=connection.secret_encrypted)
        audit.record(
            AuditEntry.Action.CONNECTION_UPDATED, actor, subject=label,
            summary=f"Re-encrypted the secret of the {label} with the newest SECRETS_KEY",
            changes={"secret": "re-encrypted"},
        )
        rotated += 1
    return rotated
