from celery import shared_task

from alerts.services import tick


@shared_task(ignore_result=True)
def alerts_tick() -> None:
    """Sent by beat every tick: queue new alerts (or hold them for the digest) and deliver those due."""
    tick()
