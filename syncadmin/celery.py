"""The Celery app: queues, routing and the beat schedule, all in code."""

import os

from celery import Celery
from django.conf import settings
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncadmin.settings")

app = Celery("syncadmin")
app.config_from_object("django.conf:settings", namespace="CELERY")

# Queues: `initial` for first syncs and resets (long), `sync` for incremental syncs (short), `default` for the
# rest, so a large first sync never starves everyone else's incremental syncs.
QUEUES = ("sync", "initial", "default")
# A periodic tick not started by then is dropped (the next one does its work). Twice the interval, and at least
# ten seconds: a tick that waits behind the others of its beat (the filesystem broker polls each second, and a
# worker holds as many messages as it has processes) must not always arrive expired, or nothing is dispatched.
TICK_EXPIRES_SECONDS = max(2 * settings.CELERY_BEAT_INTERVAL_SECONDS, 10)

app.conf.update(
    task_queues=[Queue(name) for name in QUEUES],
    task_default_queue="default",
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    result_expires=3600,
    task_track_started=True,
    broker_connection_retry_on_startup=True,
    timezone="UTC",
    beat_schedule={
        "dispatch-due-syncs": {
            "task": "sync.tasks.dispatch_due_syncs",
            "schedule": float(settings.CELERY_BEAT_INTERVAL_SECONDS),
            "options": {"expires": TICK_EXPIRES_SECONDS, "queue": "default"},
        },
        "alerts": {
            "task": "alerts.tasks.alerts_tick",
            "schedule": float(settings.CELERY_BEAT_INTERVAL_SECONDS),
            "options": {"expires": TICK_EXPIRES_SECONDS, "queue": "default"},
        },
        "prune-history": {
            "task": "sync.tasks.prune_history",
            "schedule": 24 * 3600.0,
            "options": {"expires": 3600, "queue": "default"},
        },
        "graph-subscriptions": {
            "task": "sync.tasks.ensure_graph_subscriptions",
            "schedule": 15 * 60.0,
            "options": {"expires": 15 * 60, "queue": "default"},
        },
        "heartbeat": {
            "task": "syncadmin.tasks.heartbeat",
            "schedule": float(settings.CELERY_BEAT_INTERVAL_SECONDS),
            "options": {"expires": TICK_EXPIRES_SECONDS, "queue": "default"},
        },
    },
)
app.autodiscover_tasks()


def ensure_broker_folders() -> None:
    """The filesystem transport needs its folders to exist before anyone publishes."""
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if folder := options.get(key):
            os.makedirs(folder, exist_ok=True)
    backend = str(app.conf.result_backend or "")
    if backend.startswith("file://"):
        os.makedirs(backend.removeprefix("file://"), exist_ok=True)


ensure_broker_folders()
