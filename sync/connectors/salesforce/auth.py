"""Access tokens for Salesforce: the OAuth 2.0 JWT bearer flow per synced user, and the process-wide cache of them.

``sub`` is the synced user, so Salesforce's own permissions and sharing apply to every read and write. A token is
kept until Salesforce refuses it; the client then forgets it here and asks once for a new one. Tokens are kept per
credentials (login URL, consumer key, user and a fingerprint of the private key), so a changed key is used at once.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt
import requests

from sync.connectors.base import (
    NeedsAttention,
    SalesforceSettings,
    TransientError,
    check_destination,
    holding,
    https_or_loopback,
)
from sync.connectors.salesforce.errors import network_error, oauth_error
from sync.connectors.salesforce.transport import retry_after

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_SECONDS = 180


@dataclass(frozen=True)
class AccessToken:
    access_token: str
    instance_url: str
    user_id: str | None  # the Salesforce user id (from the identity URL of the token response)
    issued_at: float


TokenKey = tuple[str, str, str, str]


class TokenCache:
    """Access tokens shared by every client in the process, keyed by the credentials (`token_key`).

    Salesforce does not say when a JWT-bearer session expires (the org's session timeout decides), so a token is
    kept until Salesforce refuses it. A token is requested once per key even when threads ask at the same time (an
    interactive test waits for another thread's request only until its deadline).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[TokenKey, AccessToken] = {}
        self._key_locks: dict[TokenKey, threading.Lock] = {}

    def get(self, key: TokenKey, obtain: Callable[[], AccessToken]) -> AccessToken:
        with self._lock:
            token = self._tokens.get(key)
            if token is not None:
                return token
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with holding(key_lock):
            with self._lock:
                token = self._tokens.get(key)
            if token is None:
                token = obtain()
                with self._lock:
                    self._tokens[key] = token
            return token

    def invalidate(self, key: TokenKey, access_token: str) -> None:
        """Forget the token if it is still the one that failed (another thread may have renewed it already)."""
        with self._lock:
            current = self._tokens.get(key)
            if current is not None and current.access_token == access_token:
                del self._tokens[key]

    def clear(self) -> None:
        """Forget every token (a connection was saved: its next use asks Salesforce again)."""
        with self._lock:
            self._tokens.clear()


TOKENS = TokenCache()


def token_key(settings: SalesforceSettings, username: str) -> TokenKey:
    """Whose token it is: the org's login URL, the consumer key, the user, and a fingerprint of the private key (a
    token obtained with another key never answers for this one)."""
    key_fingerprint = hashlib.sha256(settings.private_key_pem.strip().encode()).hexdigest()
    return (settings.login_url.rstrip("/").lower(), settings.consumer_key, username.lower(), key_fingerprint)


def jwt_audience(login_url: str) -> str:
    """The JWT's ``aud``: the login URL, except that My Domain hosts answer for login/test.salesforce.com."""
    url = login_url.rstrip("/")
    host = (urlsplit(url).hostname or "").lower()
    if host.endswith(".my.salesforce.com"):
        return "https://test.salesforce.com" if ".sandbox." in host else "https://login.salesforce.com"
    return url


def build_assertion(settings: SalesforceSettings, username: str, now: float | None = None) -> str:
    """The signed JWT for the bearer flow (RS256, valid three minutes)."""
    issued = int(now if now is not None else time.time())
    claims = {"iss": settings.consumer_key, "sub": username, "aud": jwt_audience(settings.login_url),
              "exp": issued + JWT_LIFETIME_SECONDS}
    try:
        return jwt.encode(claims, settings.private_key_pem, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise NeedsAttention(
            "INVALID_PRIVATE_KEY", "the connected app's private key cannot sign a token",
            action="Paste the connected app's RSA private key (PEM) into the Salesforce connection.",
            own_words=True) from exc


def request_token(settings: SalesforceSettings, username: str, session: requests.Session) -> AccessToken:
    """Exchange a signed JWT for an access token at ``<login_url>/services/oauth2/token``."""
    if not https_or_loopback(settings.login_url):
        # The save rule refuses such a URL; this stops a connection saved before it: a JWT signed with the org's key
        # is a credential, and never crosses a network readable.
        raise NeedsAttention("insecure_url", "The Salesforce login URL uses plain http to another machine: the "
                             "signed token request would cross the network readable.",
                             "Change the login URL to https on the Connections page (and enter the key again).",
                             own_words=True)
    check_destination(settings.login_url, "the Salesforce login URL")
    url = f"{settings.login_url.rstrip('/')}/services/oauth2/token"
    data = {"grant_type": JWT_GRANT, "assertion": build_assertion(settings, username)}
    try:
        response = session.post(url, data=data)
    except requests.RequestException as exc:
        raise network_error(exc, settings.login_url) from exc
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientError(str(body.get("error") or f"HTTP_{response.status_code}").upper(),
                             f"the token endpoint answered {response.status_code}: "
                             f"{body.get('error_description') or response.reason}",
                             retry_after=retry_after(response))
    if response.status_code != 200 or not body.get("access_token"):
        refused = oauth_error(str(body.get("error") or f"HTTP_{response.status_code}"),
                              str(body.get("error_description") or response.text[:200]), username)
        refused.own_words = False  # the code is the end's choice, the description its text
        raise refused
    identity = str(body.get("id") or "")
    instance_url = str(body.get("instance_url") or settings.login_url).rstrip("/")
    if not https_or_loopback(instance_url):
        # The org's own address comes from the token endpoint: the access token never crosses a network readable.
        raise NeedsAttention("insecure_url", "Salesforce named an instance URL over plain http to another machine.",
                             "Check the Salesforce connection's login URL.", own_words=True)
    return AccessToken(body["access_token"], instance_url, identity.rstrip("/").rsplit("/", 1)[-1] or None,
                       time.time())
