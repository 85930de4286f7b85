"""What protects the console's logins and pages beyond Django's defaults: the client's address as axes counts it,
the page a locked-out login gets, and the no-store rule for everything the server renders.

Settings name these by dotted path (``AXES_CLIENT_IP_CALLABLE``, ``AXES_LOCKOUT_CALLABLE``, ``MIDDLEWARE``).
"""

import ipaddress
import math
from datetime import datetime

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_failure_limit
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_cache_control


def client_address(request: HttpRequest) -> str | None:
    """The address a login is counted against.

    ``REMOTE_ADDR`` (the peer that connected), unless ``TRUSTED_PROXY_COUNT`` says how many reverse proxies stand
    in front of the server: then the entry of ``X-Forwarded-For`` that the outermost of them wrote. Entries further
    left come from the client and are never trusted; a header too short for the count (a request that did not come
    through every proxy) or an entry that is not an address falls back to ``REMOTE_ADDR``.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            candidate = forwarded[-proxies]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                pass
    return request.META.get("REMOTE_ADDR")


def lockout_ends_at(request: HttpRequest, credentials: dict | None) -> datetime:
    """When the failures that lock this login out (its account's, or its address's) have aged past the cool-off.

    Axes counts, per lockout parameter, the failures of the attempts newer than the cool-off; each attempt row
    ages out as a whole at its last failure plus the cool-off. So a parameter is free again once its newest rows
    hold fewer failures than the limit: at the time the row that brings the newest ones up to the limit ages out.
    """
    now = getattr(request, "axes_attempt_time", None) or timezone.now()
    limit = get_failure_limit(request, credentials)
    cool_off = get_cool_off(request)
    ends = now
    for attempts in AxesDatabaseHandler().get_user_attempts(request, credentials):
        failures = 0
        for last_failure, count in attempts.order_by("-attempt_time").values_list(
            "attempt_time", "failures_since_start"
        ):
            failures += count
            if failures >= limit:
                ends = max(ends, last_failure + cool_off)
                break
    return ends


def lockout_response(request: HttpRequest, original_response=None, credentials: dict | None = None) -> HttpResponse:
    """429 with ``Retry-After`` and a page saying what happened and when to try again (axes' lockout callable)."""
    ends = lockout_ends_at(request, credentials)
    seconds = max(1, math.ceil((ends - timezone.now()).total_seconds()))
    response = render(
        request,
        "registration/locked_out.html",
        {"until": ends, "minutes": max(1, math.ceil(seconds / 60))},
        status=429,
    )
    response["Retry-After"] = str(seconds)
    return response


def no_store(get_response):
    """Nothing the server renders is kept by a browser or a proxy: console and admin pages and API answers carry
    what only their viewer may see, and a shared computer's back button must not show them after logging out.

    Sits after whitenoise, so static files (served before it) stay cacheable.
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        if "no-store" not in response.get("Cache-Control", ""):
            patch_cache_control(response, no_store=True)
        return response

    return middleware
