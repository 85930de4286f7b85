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

from sync.reports import overview
from syncadmin import health
from syncadmin.roles import may_use_console, role_of
from users.models import SyncState


@require_GET
@never_cache
def healthz(request):
    """200 when the database and the broker answer, 503 otherwise; the body says which failed."""
    database_ok, database = health.check_database()
    broker_ok, broker = health.check_broker()
    body = {
        "status": "ok" if database_ok and broker_ok else "unavailable",
        "database": {"ok": database_ok, "detail": database},
        "broker": {"ok": broker_ok, "detail": broker},
    }
    if database_ok:
        body["worker"] = health.worker_last_seen()
    return JsonResponse(body, status=200 if database_ok and broker_ok else 503)


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


@console_view
def dashboard(request):
    database_ok, database = health.check_database()
    broker_ok, broker = health.check_broker()
    return render(
        request,
        "syncadmin/dashboard.html",
        {
            "checks": [
                ("Database", database_ok, database),
                ("Task broker", broker_ok, broker),
            ],
            "worker": health.worker_last_seen(),
            "overview": overview(),
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
