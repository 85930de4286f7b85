from celery import shared_task
from django.utils import timezone

from syncadmin.models import Heartbeat


@shared_task(ignore_result=True)
def heartbeat() -> None:
    """Sent by beat, run by a worker: proves the whole chain (beat → broker → worker → database) works."""
    Heartbeat.objects.update_or_create(name="worker", defaults={"seen_at": timezone.now()})


@shared_task
def ping(value: str) -> str:
    """Answers what it is sent; used by the health check's optional round trip and by tests."""
    return value
