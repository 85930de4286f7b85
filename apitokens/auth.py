"""DRF authentication with API tokens (``Authorization: Token <key>``), and the throttle on invalid tokens.

An address that sent ``API_TOKEN_FAILURES_LIMIT`` invalid tokens within ``API_TOKEN_FAILURES_WINDOW_SECONDS`` gets
429 with ``Retry-After`` on every token request, valid or not, until the oldest of those failures leaves the window.
The failures are counted by DRF's cache-backed throttle (the Django cache), keyed by the client's address as logins
count it (``syncadmin.security.client_address``: ``X-Forwarded-For`` is trusted only as far as
``TRUSTED_PROXY_COUNT`` says).
"""

from __future__ import annotations

import math

from django.conf import settings
from drf_spectacular.authentication import TokenScheme
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.throttling import SimpleRateThrottle

from apitokens.services import TokenRefused, authenticate_key
from syncadmin.security import client_address

KEYWORD = "Token"


class TokenFailures(SimpleRateThrottle):
    """Invalid token authentications per client address: each failure is one "request" of DRF's throttle."""

    scope = "api_token_failures"

    def get_rate(self) -> str:
        return f"{settings.API_TOKEN_FAILURES_LIMIT}/{settings.API_TOKEN_FAILURES_WINDOW_SECONDS}s"

    def parse_rate(self, rate):
        # DRF's own parser knows one unit of s, m, h or d; the window is any number of seconds.
        return settings.API_TOKEN_FAILURES_LIMIT, settings.API_TOKEN_FAILURES_WINDOW_SECONDS

    def get_ident(self, request) -> str:
        return client_address(request) or ""

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def blocked_for(self, request) -> float | None:
        """Seconds until the address may try tokens again, or None if it may now."""
        self.key = self.get_cache_key(request, None)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        self.history = [at for at in self.history if at > self.now - self.duration]
        if len(self.history) < self.num_requests:
            return None
        # Newest first: the block lifts when the failure that reached the limit leaves the window.
        return max(1.0, self.history[self.num_requests - 1] + self.duration - self.now)

    def record_failure(self, request) -> None:
        self.allow_request(request, None)  # under the limit, DRF's throttle stores this failure's time


class TooManyTokenFailures(exceptions.Throttled):
    default_detail = "Too many requests from your address carried an invalid API token."
    extra_detail_singular = "Try again in {wait} second, with a valid token."
    extra_detail_plural = "Try again in {wait} seconds, with a valid token."


class TokenAuthentication(BaseAuthentication):
    keyword = KEYWORD

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        failures = TokenFailures()
        wait = failures.blocked_for(request)
        if wait is not None:
            raise TooManyTokenFailures(wait=math.ceil(wait))
        try:
            return self._authenticate(header)
        except exceptions.AuthenticationFailed:
            failures.record_failure(request)
            raise

    def _authenticate(self, header: list[bytes]):
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "The Authorization header must be 'Token <key>', with the key and no spaces in it."
            )
        try:
            key = header[1].decode("ascii")
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed(
                "This API token is not valid: a key holds letters, digits, '-' and '_' only."
            ) from exc
        try:
            token = authenticate_key(key)
        except TokenRefused as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class ApiTokenScheme(TokenScheme):
    """The OpenAPI schema's security scheme for these tokens (``Authorization: Token <key>``)."""

    target_class = TokenAuthentication
    priority = 0
