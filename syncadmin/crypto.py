"""Encryption at rest for secrets kept in the database (connection passwords and private keys).

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``). The key comes from ``SECRETS_KEY`` (any string of at
least 32 characters; a Fernet key is derived from it). Production refuses to start without it (see settings); in
development it falls back to ``SECRET_KEY``, so that ``make run`` and the tests need nothing. Several
comma-separated keys, newest first, rotate: the first encrypts, all are tried to decrypt; after putting a new key
first, ``python manage.py rotate_secrets`` re-encrypts every stored secret with it, and the old key can then go.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with the configured keys (the key changed or the value was altered)."""


def _fernet(material: str) -> Fernet:
    digest = hashlib.sha256(f"syncadmin-secrets:{material}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def key_materials() -> list[str]:
    """The configured keys, newest first."""
    if not settings.SECRETS_KEY and getattr(settings, "PRODUCTION", False):
        # Settings refuse this at start; kept here too so that nothing ever encrypts with SECRET_KEY in production.
        raise ImproperlyConfigured("SECRETS_KEY: set it in production; stored secrets never use SECRET_KEY there")
    return [k.strip() for k in (settings.SECRETS_KEY or settings.SECRET_KEY).split(",") if k.strip()]


def _keys() -> MultiFernet:
    return MultiFernet([_fernet(material) for material in key_materials()])


def encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return _keys().encrypt(plaintext.encode("utf-8")).decode("ascii")


def _unreadable() -> SecretUnreadable:
    return SecretUnreadable(
        "a stored secret cannot be decrypted: SECRETS_KEY (or SECRET_KEY) differs from the one it was saved "
        "with; restore the old key or enter the secret again"
    )


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _keys().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError) as exc:
        raise _unreadable() from exc


def rotate(token: str) -> str:
    """The same secret encrypted with the current first key (raises SecretUnreadable if no key decrypts it)."""
    if not token:
        return ""
    try:
        return _keys().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, ValueError) as exc:
        raise _unreadable() from exc
