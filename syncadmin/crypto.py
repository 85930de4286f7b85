"""Encryption at rest for secrets kept in the database (connection passwords and private keys).

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``). The key comes from ``SECRETS_KEY`` (any string of at
least 32 characters; a Fernet key is derived from it), or, when that is unset, from ``SECRET_KEY``. Several
comma-separated keys may be given to rotate: the first encrypts, all are tried to decrypt; re-save secrets with
``python manage.py rotate_secrets`` after adding a new first key.
"""

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with the configured keys (the key changed or the value was altered)."""


def _fernet(material: str) -> Fernet:
    digest = hashlib.sha256(f"syncadmin-secrets:{material}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _keys() -> MultiFernet:
    materials = [k.strip() for k in (settings.SECRETS_KEY or settings.SECRET_KEY).split(",") if k.strip()]
    return MultiFernet([_fernet(material) for material in materials])


def encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return _keys().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _keys().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError) as exc:
        raise SecretUnreadable(
            "a stored secret cannot be decrypted: SECRETS_KEY (or SECRET_KEY) differs from the one it was saved "
            "with; restore the old key or enter the secret again"
        ) from exc


def rotate(token: str) -> str:
    """The same secret encrypted with the current first key."""
    return _keys().rotate(token.encode("ascii")).decode("ascii") if token else ""
