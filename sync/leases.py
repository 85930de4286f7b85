"""One sync per user and object at a time: the state row's lease (compare-and-set) and the one rule that says
whether a user's object is busy."""

from __future__ import annotations

import socket
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from sync.models import SyncRun
from users.models import UserObjectState


class SyncUnavailable(Exception):
    """A run cannot start: the user's sync is running already, or there is nothing to sync."""

    def __init__(self, message: str, running_run_id: int | None = None):
        super().__init__(message)
        self.running_run_id = running_run_id


def queued_run_stale_after() -> timedelta:
    """A queued run older than this is taken as lost (its message with it, e.g. a broker restarted without its data)
    and no longer blocks its user's object."""
    return timedelta(seconds=settings.SYNC_QUEUED_RUN_STALE_SECONDS)


def lease_owner() -> str:
    """A name for one claimant: the host and a random part, so two runs on one host never share a lease."""
    return f"{socket.gethostname()}:{uuid.uuid4().hex[:12]}"


def claim(state: UserObjectState, owner: str, now: datetime | None = None) -> bool:
    """Take the state row's lease by compare-and-set: only one claimant wins, and an expired lease is free."""
    now = now or timezone.now()
    taken = (
        UserObjectState.objects.filter(pk=state.pk)
        .filter(Q(lease_owner="") | Q(lease_expires_at__lt=now))
        .update(lease_owner=owner, lease_expires_at=now + timedelta(seconds=settings.SYNC_LEASE_SECONDS))
    )
    return taken == 1


def renew(state: UserObjectState, owner: str) -> bool:
    """Extend a held lease: a long run keeps its claim while it makes progress. Answers False when the lease is no
    longer this owner's (it ran out and another run claimed the object): the caller must stop writing."""
    return UserObjectState.objects.filter(pk=state.pk, lease_owner=owner).update(
        lease_expires_at=timezone.now() + timedelta(seconds=settings.SYNC_LEASE_SECONDS)
    ) == 1


def release(state: UserObjectState, owner: str) -> None:
    UserObjectState.objects.filter(pk=state.pk, lease_owner=owner).update(lease_owner="", lease_expires_at=None)


def busy_runs(now: datetime | None = None) -> QuerySet[SyncRun]:
    """The runs that keep their user's object busy: queued and not stale, or running while the object's lease is
    held. A running run whose worker was killed stops blocking once the lease expires (the next run marks it
    failed); a queued run whose message was lost stops blocking once it is stale."""
    now = now or timezone.now()
    leased = UserObjectState.objects.filter(
        user_id=OuterRef("user_id"), object=OuterRef("object"), lease_expires_at__gte=now
    ).exclude(lease_owner="")
    return SyncRun.objects.filter(
        Q(state=SyncRun.State.QUEUED, created_at__gte=now - queued_run_stale_after())
        | Q(Exists(leased), state=SyncRun.State.RUNNING)
    )
