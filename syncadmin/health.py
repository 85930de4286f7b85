"""Checks of the services the product needs, for ``/healthz`` and the dashboard."""

from django.conf import settings
from django.db import connection
from django.utils import timezone

from syncadmin.celery import app as celery_app
from syncadmin.models import Heartbeat


def check_database() -> tuple[bool, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "down"; the message says which
        return False, f"{type(exc).__name__}: {exc}".strip()
    return True, connection.vendor


def check_broker() -> tuple[bool, str]:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
            transport = conn.transport_cls
    except Exception as exc:  # noqa: BLE001
        return False, f"{type(exc).__name__}: {exc}".strip()
    return True, str(transport)


def worker_last_seen() -> dict:
    beat = Heartbeat.objects.filter(name="worker").values_list("seen_at", flat=True).first()
    if beat is None:
        return {"seen_at": None, "fresh": False}
    return {"seen_at": beat.isoformat(), "fresh": timezone.now() - beat < settings.CELERY_HEARTBEAT_STALE_AFTER}
