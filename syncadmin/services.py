"""Operations on the console's own accounts: roles and API tokens."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from rest_framework.authtoken.models import Token

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


def issue_token(user, rotate: bool = False) -> str:
    """The account's API token, created on first use; ``rotate`` replaces it (the old one stops working)."""
    with transaction.atomic():
        if rotate:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
    return token.key


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
