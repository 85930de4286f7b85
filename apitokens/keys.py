"""What an API token's key looks like and how it is stored: only its SHA-256 and a short, non-secret prefix.

The keys are random (256 bits), so a plain SHA-256 cannot be reversed by guessing: no salt or slow hash is needed,
and a lookup by hash stays one indexed query. Keys of the former clear-text tokens (40 hex characters) hash the
same way, so migrated clients keep their key.
"""

import hashlib
import secrets

# A recognisable start so that secret scanners and people can tell what a leaked string is.
KEY_MARKER = "sync_"
PREFIX_LENGTH = len(KEY_MARKER) + 8
LEGACY_PREFIX_LENGTH = 8
MAX_KEY_LENGTH = 200


def new_key() -> str:
    return KEY_MARKER + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def prefix_of(key: str) -> str:
    """The part of a key kept in clear to tell tokens apart in lists (not enough to use it)."""
    return key[:PREFIX_LENGTH] if key.startswith(KEY_MARKER) else key[:LEGACY_PREFIX_LENGTH]
