"""Checks of the services the product needs, for ``/healthz`` and the dashboard."""

from django.conf import settings
from django.db import connection
from django.utils import timezone

from sync.models import SyncRun
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


def worker_status() -> dict:
    """Whether a worker ran the heartbeat task (sent by beat) within the heartbeat window: {ok, reason, seen_at}.
    `reason` is "" when fresh, `no_worker` when none has answered in the window, `no_heartbeat_yet` when none ever
    has (a fresh install before its first beat tick, or beat and the workers never started)."""
    beat = Heartbeat.objects.filter(name="worker").values_list("seen_at", flat=True).first()
    if beat is None:
        return {"ok": False, "reason": "no_heartbeat_yet", "seen_at": None}
    fresh = timezone.now() - beat < settings.CELERY_HEARTBEAT_STALE_AFTER
    return {"ok": fresh, "reason": "" if fresh else "no_worker", "seen_at": beat}


def waiting_for_a_worker() -> dict:
    """Runs queued and not started, and since when the oldest has waited (for the dashboard)."""
    waiting = SyncRun.objects.filter(state=SyncRun.State.QUEUED)
    oldest = waiting.order_by("created_at").values_list("created_at", flat=True).first()
    return {"count": waiting.count(), "since": oldest}
