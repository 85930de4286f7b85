import logging

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from configurations.models import OutlookConfiguration
from sync.feeds.health import chart_data, feeds_overview, salesforce_calls_by_hour
from sync.reports import overview, trends
from syncadmin import health
from syncadmin.roles import ADMIN, API, SUPPORT, may_use_console, role_of
from users.models import SyncState

refusals = logging.getLogger("syncadmin.refusals")


@require_GET
@never_cache
def healthz(request):
    """Up or down, with a reason code per part and nothing else (no versions, hosts or error text: it is public).

    200 when the database and the broker answer and a worker ran the heartbeat within the window; 503 otherwise.
    `?scope=web` leaves the workers out: what the web process itself needs (for a web container's own probe)."""
    database_ok, _ = health.check_database()
    broker_ok, _ = health.check_broker()
    parts = {
        "database": {"ok": database_ok, "reason": "" if database_ok else "unreachable"},
        "broker": {"ok": broker_ok, "reason": "" if broker_ok else "unreachable"},
    }
    if request.GET.get("scope") != "web":
        worker = health.worker_status() if database_ok else {"ok": False, "reason": "unknown", "seen_at": None}
        parts["worker"] = {**worker, "seen_at": worker["seen_at"] and worker["seen_at"].isoformat()}
    healthy = all(part["ok"] for part in parts.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **parts}, status=200 if healthy else 503)


def console_view(view):
    """Console pages: logged in, and a console role (admin or support); API-only accounts are refused."""

    @login_required
    def wrapped(request, *args, **kwargs):
        if not may_use_console(request.user):
            raise PermissionDenied("This account has no console role.")
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _needed_role(role: str | None) -> str:
    """The role a refused page needs, in words: console pages are for admins and support staff, and what support
    staff are refused in the console is for admins; what admins are refused (a few admin-site pages) is for
    superusers."""
    if role == SUPPORT:
        return "the admin role"
    if role == ADMIN:
        return "a superuser account"
    return "the admin or support role"


def permission_denied(request, exception=None):
    """The 403 page (``handler403``): which role the account has, which role the page needs, and whom to ask.

    The refusal is logged here as one line with no traceback: Django's own record of a ``PermissionDenied`` carries
    the traceback of an expected outcome (twice with DEBUG on, through its own handler and the root logger's)."""
    user = getattr(request, "user", None)
    role = role_of(user)
    reason = str(exception or "")
    response = render(request, "403.html", {
        "account": user.get_username() if user is not None and user.is_authenticated else "",
        "account_role": role,
        "needed_role": _needed_role(role),
        "api_role": role == API,
        # The view's own reason adds to the sentence only where the account may use the console at all.
        "reason": reason if may_use_console(user) else "",
    }, status=403)
    refusals.warning("Forbidden: %s %s for %s (role: %s): %s", request.method, request.path,
                     getattr(user, "username", "") or "anonymous", role or "none", reason or "no reason given")
    response._has_been_logged = True  # django.utils.log.log_response: this refusal is logged already
    return response


class LogoutView(auth_views.LogoutView):
    """Django's logout, saying on the login page that it happened."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.success(request, "You are logged out. Log in again to use the console.")
        return response


@console_view
def dashboard(request):
    database_ok, database = health.check_database()
    broker_ok, broker = health.check_broker()
    salesforce_calls = salesforce_calls_by_hour()
    return render(
        request,
        "syncadmin/dashboard.html",
        {
            "checks": [
                ("Database", database_ok, database),
                ("Task broker", broker_ok, broker),
            ],
            "worker": health.worker_status(),
            "waiting": health.waiting_for_a_worker(),
            "overview": overview(),
            "trends": trends(),
            "feeds": feeds_overview(),
            "salesforce_calls": salesforce_calls,
            "salesforce_calls_chart": chart_data(salesforce_calls),
            "configurations": OutlookConfiguration.objects.order_by("name").values("pk", "name"),
            "states": [(state, label) for state, label in SyncState.choices],
        },
    )


@extend_schema(responses=inline_serializer("Me", {"username": serializers.CharField(),
                                                 "role": serializers.CharField(allow_null=True)}))
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def me(request):
    """Who the caller is and which role they act with."""
    return Response({"username": request.user.username, "role": role_of(request.user)})
