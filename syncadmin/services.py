"""Operations on the console's own accounts (roles, passwords, API tokens), and on the key of the stored secrets.

``create_account`` and ``set_role`` are the plain steps (commands, the first admin, tests); the console's Accounts
page goes through ``add_account``, ``change_role``, ``reset_password``, ``deactivate_account`` and
``reactivate_account``, which check what a person asked for and write an audit entry."""

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from alerts.models import AlertSettings
from apitokens import services as apitokens
from audit import services as audit
from audit.models import AuditEntry
from sync.models import Connection
from syncadmin import crypto
from syncadmin.roles import ADMIN, API, ROLES, ensure_roles, role_of

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


@dataclass(frozen=True)
class AddedAccount:
    """An account just created, with the password it was given when one was generated (shown once, never kept)."""

    user: object
    generated_password: str | None


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def _account_label(user) -> str:
    return f"account {user.get_username()}"


def _check_password(password: str, user) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc


@transaction.atomic
def add_account(username: str, role: str, *, password: str | None = None, email: str = "", actor=None) -> AddedAccount:
    """A console or API account with a role, audited. Without ``password`` a console role gets a generated one
    (returned, to be shown once); an ``api`` account gets none (it authenticates with a token). Raises
    ``ValidationError`` naming the field (``username``, ``role``, ``email``, ``password``)."""
    username = (username or "").strip()
    email = (email or "").strip()
    errors: dict[str, list[str]] = {}
    if role not in ROLES:
        errors["role"] = [f"Choose a role: {', '.join(ROLES)}."]
    probe = User(username=username, email=email)
    try:
        probe.clean_fields(exclude=["password"])
    except ValidationError as exc:
        errors.update({field: found for field, found in exc.message_dict.items() if field in ("username", "email")})
    if username and "username" not in errors and User.objects.filter(username__iexact=username).exists():
        errors["username"] = [f"An account named {username!r} exists already: choose another username, or change "
                              "that account's role in the list."]
    if password and role == API:
        errors["password"] = ["An api account has no password: it authenticates with a token (issue one on the API "
                              "tokens page). Leave the password empty."]
    elif password and "username" not in errors:
        try:
            _check_password(password, probe)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    generated = None
    if role != API and not password:
        password = generated = generate_password()
    user = create_account(username, role, password=password, email=email)
    audit.record(
        AuditEntry.Action.ACCOUNT_CREATED, actor, subject=_account_label(user),
        summary=f"Created the {role} account {username}",
        changes={"after": {"username": username, "email": email, "role": role,
                           "password": "none" if role == API else "generated" if generated else "given"}},
    )
    return AddedAccount(user, generated)


def _other_active_admins(user) -> bool:
    admins = User.objects.filter(is_active=True).exclude(pk=user.pk)
    return admins.filter(is_superuser=True).exists() or admins.filter(groups__name=ADMIN).exists()


def _refuse_own(user, actor, what: str) -> None:
    if actor is not None and user.pk == actor.pk:
        raise ValidationError(f"You cannot {what} your own account: ask another admin, so that nobody locks "
                              "themselves out.")


def _refuse_superuser(user, actor, what: str) -> None:
    # A superuser may do more than the admin role (Django's user admin): an admin taking over one would be more.
    if user.is_superuser and actor is not None and not actor.is_superuser:
        raise ValidationError(f"{user.get_username()} is a superuser: only another superuser may {what} it.")


@transaction.atomic
def change_role(user, role: str, *, actor=None) -> bool:
    """Give the account another role, audited; False if it had that role already. Refused (``ValidationError``
    with a sentence) for an unknown role, one's own account, a superuser (always an admin) and the last admin."""
    user = User.objects.select_for_update().get(pk=user.pk)
    before = role_of(user)
    if role not in ROLES:
        raise ValidationError(f"Choose a role: {', '.join(ROLES)}.")
    if role == before:
        return False
    _refuse_own(user, actor, "change the role of")
    if user.is_superuser:
        raise ValidationError(f"{user.get_username()} is a superuser, which always has the admin role; a superuser "
                              "changes that with the admin site or manage.py.")
    if before == ADMIN and not _other_active_admins(user):
        raise ValidationError(f"{user.get_username()} is the only active admin: give another account the admin "
                              "role first.")
    if role == API and user.has_usable_password():
        user.set_unusable_password()  # an api account has no console login (see syncadmin.roles)
        user.save(update_fields=["password"])
    set_role(user, role)
    audit.record(
        AuditEntry.Action.ACCOUNT_ROLE_CHANGED, actor, subject=_account_label(user),
        summary=f"Changed the role of {user.get_username()} from {before or 'none'} to {role}",
        changes={"before": {"role": before}, "after": {"role": role}},
    )
    return True


@transaction.atomic
def reset_password(user, *, actor=None) -> str:
    """A new generated password for a console account (returned, to be shown once; only its hash is kept), audited.
    The account's sessions end: Django ties each session to the password it was opened with."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if role_of(user) == API:
        raise ValidationError(f"{user.get_username()} is an api account, which has no password: it authenticates with "
                              "a token (issue one on the API tokens page).")
    _refuse_own(user, actor, "reset the password of")
    _refuse_superuser(user, actor, "give a new password to")
    password = generate_password()
    user.set_password(password)
    user.save(update_fields=["password"])
    audit.record(
        AuditEntry.Action.ACCOUNT_PASSWORD_RESET, actor, subject=_account_label(user),
        summary=f"Gave {user.get_username()} a new generated password", changes={"password": "generated"},
    )
    return password


@transaction.atomic
def deactivate_account(user, *, actor=None) -> bool:
    """Deactivate the account, audited; False if it was inactive already. It can no longer log in, its sessions end
    and its API tokens authenticate nobody (they work again if the account is reactivated). Refused for one's own
    account and the last active admin."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if not user.is_active:
        return False
    _refuse_own(user, actor, "deactivate")
    _refuse_superuser(user, actor, "deactivate")
    if role_of(user) == ADMIN and not _other_active_admins(user):
        raise ValidationError(f"{user.get_username()} is the only active admin: give another account the admin role "
                              "before deactivating this one.")
    user.is_active = False
    user.save(update_fields=["is_active"])
    audit.record(
        AuditEntry.Action.ACCOUNT_DEACTIVATED, actor, subject=_account_label(user),
        summary=f"Deactivated the account {user.get_username()}",
        changes={"before": {"active": True}, "after": {"active": False}},
    )
    return True


@transaction.atomic
def reactivate_account(user, *, actor=None) -> bool:
    """Let a deactivated account log in (and its tokens authenticate) again, audited; False if it was active."""
    changed = User.objects.filter(pk=user.pk, is_active=False).update(is_active=True)
    user.refresh_from_db()
    if not changed:
        return False
    audit.record(
        AuditEntry.Action.ACCOUNT_REACTIVATED, actor, subject=_account_label(user),
        summary=f"Reactivated the account {user.get_username()}",
        changes={"before": {"active": False}, "after": {"active": True}},
    )
    return True


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
    value); the settings, and so ``updated_at``, stay as they were. The stored secrets are the connections' and the
    alerts' webhook secret (tests/syncadmin/test_secrets_key.py fails when a model gains another encrypted field).
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
    alert_settings = AlertSettings.objects.select_for_update().exclude(webhook_secret_encrypted="").first()
    if alert_settings is not None:
        try:
            alert_settings.webhook_secret_encrypted = crypto.rotate(alert_settings.webhook_secret_encrypted)
        except crypto.SecretUnreadable as exc:
            raise crypto.SecretUnreadable(
                "The alerts' webhook secret cannot be decrypted with any key in SECRETS_KEY: put the key it was saved "
                "with back in the list (after the new one), or enter the secret again; nothing was re-encrypted."
            ) from exc
        AlertSettings.objects.filter(pk=alert_settings.pk).update(
            webhook_secret_encrypted=alert_settings.webhook_secret_encrypted)
        audit.record(
            AuditEntry.Action.ALERT_SETTINGS_CHANGED, actor, subject="Alert settings",
            summary="Re-encrypted the alerts' webhook secret with the newest SECRETS_KEY",
            changes={"webhook_secret": "re-encrypted"},
        )
        rotated += 1
    return rotated
