"""Builders for configurations and synced users, shared by every test folder: one place that knows what a valid
Salesforce user id, a synced user and a configuration need."""

from __future__ import annotations

import itertools

from apitokens.keys import hash_key, new_key, prefix_of
from apitokens.models import ApiToken
from configurations import services
from users.models import SyncUser, salesforce_id_checksum
from users.services import ensure_object_states

_sequence = itertools.count(1)
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def salesforce_user_id(number: int) -> str:
    digits = ""
    for _ in range(10):
        digits = _BASE62[number % 62] + digits
        number //= 62
    id15 = "0058d" + digits
    return id15 + salesforce_id_checksum(id15)


def make_configuration(name: str | None = None, **values):
    values.setdefault("name", name or f"Configuration {next(_sequence)}")
    return services.create_configuration(values)


def make_user(username: str | None = None, profile: str = "Standard User", configuration=None, **values) -> SyncUser:
    number = next(_sequence)
    username = username or f"user{number}@example.com"
    user = SyncUser.objects.create(
        salesforce_id=values.pop("salesforce_id", salesforce_user_id(number)),
        username=username,
        email=values.pop("email", f"mailbox{number}@example.org"),
        name=values.pop("name", f"User {number}"),
        profile=profile,
        configuration=configuration,
        **values,
    )
    ensure_object_states([user])
    return user


def make_token(user, name: str = "test client", **values) -> str:
    """An API token for ``user``, as its key: a row written directly, so a test's audit trail holds only what the
    test itself did (``apitokens.services.issue_token`` is tested in tests/apitokens)."""
    key = new_key()
    ApiToken.objects.create(user=user, name=name, prefix=prefix_of(key), key_hash=hash_key(key), **values)
    return key


# The API's callers, from no credentials to full rights, for role matrices (anonymous and wrong-role access always).
API_ROLES = ["anonymous_client", "outsider_client_api", "support_client_api", "api_client", "admin_client_api"]


def refused_status(role: str, allowed: bool) -> int | None:
    """The status a caller in `role` gets when refused (401 without credentials, 403 without the right role), or
    None when the role is allowed."""
    if role == "anonymous_client":
        return 401
    return None if allowed else 403
