"""Marking user objects dirty: the one way a change feed reports that a user's data changed.

A dirty object is due for a run once SYNC_DEBOUNCE_SECONDS have passed since its first unsynced change (changes in
the meantime ride on the same run). The run's claim clears the mark before it reads anything (`clear_on_claim`), so a
change made while it runs marks the object again and is synced by the next run: nothing is lost between the two.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from users.models import UserObjectState


def mark_dirty(
    user_ids: Iterable[int] | None,
    objects: Iterable[str],
    *,
    full: bool = False,
    settled: bool = False,
    now: datetime | None = None,
) -> int:
    """Mark these users' objects dirty (`user_ids=None`: every user's). Answers how many rows were marked.

    The first change's time is kept (`dirty_at` is only set when empty), so a steady trickle of changes cannot
    postpone a user's run forever. `full=True` asks the next run to read everything and match (a feed gap whose
    changes cannot be read incrementally any more). Rows are created for users who have none yet only by the
    dispatcher: a user who was never synced is due anyway.
    """
    now = now or timezone.now()
    objects = list(objects)
    states = UserObjectState.objects.filter(object__in=objects)
    if user_ids is not None:
        user_ids = list(user_ids)
        if not user_ids:
            return 0
        states = states.filter(user_id__in=user_ids)
    first_change = now - timedelta(seconds=settings.SYNC_DEBOUNCE_SECONDS) if settled else now
    changes = {"dirty_at": Coalesce("dirty_at", first_change)}
    if full:
        changes["dirty_full"] = True
    return states.update(**changes)


def clear_on_claim(state_pk: int, claimed_at: datetime) -> bool:
    """Clear the dirty mark of a state row whose run just claimed it, before the run reads anything.

    Answers whether the run must read everything (`dirty_full` was set). Only a mark set before the claim is
    cleared: a change that lands after it marks the object again for the next run."""
    row = UserObjectState.objects.filter(pk=state_pk).values("dirty_at", "dirty_full").first()
    if not row or row["dirty_at"] is None:
        return False
    UserObjectState.objects.filter(Q(dirty_at__lte=claimed_at), pk=state_pk).update(dirty_at=None, dirty_full=False)
    return bool(row["dirty_full"])
