"""Marking user objects dirty: the one way a change feed reports that a user's data changed.

A dirty object is due for a run once SYNC_DEBOUNCE_SECONDS have passed since its first unsynced change (changes in
the meantime ride on the same run). The run's claim clears the mark before it reads anything (`clear_on_claim`), so a
change made while it runs marks the object again and is synced by the next run: nothing is lost between the two.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from sync.connectors.graph.subscriptions import version_of
from sync.models import RecordLink
from users.models import UserObjectState

# What a feed reports for an item whose change cannot be the sync's own (a deletion, a move, an item without a
# version): always a real change.
NO_VERSION = ""
# Changes held for one running object at most; past it the object is simply marked (a burst is no echo).
HOLD_LIMIT = 500


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


def only_echoes(user_id: int, object_type: str, changes: dict[str, str]) -> bool:
    """Whether every reported Outlook change is one the sync made itself: an item whose id and version are those a
    link holds (the sync stored that very version right after writing it). A deletion or an item reported without
    a version is a real change."""
    if not changes or any(not version_of(version) for version in changes.values()):
        return False
    links = dict(RecordLink.objects.filter(user_id=user_id, object=object_type, outlook_id__in=list(changes))
                 .values_list("outlook_id", "outlook_version"))
    return all(item in links and version_of(links[item]) == version_of(version)
               for item, version in changes.items())


def report_outlook_changes(user_id: int, object_type: str, changes: dict[str, str], *,
                           now: datetime | None = None) -> bool:
    """An Outlook feed's changes ({item id: version}, NO_VERSION for a deletion or a move) for one user's object.

    While a run of the object holds its lease, they are held on the state row and checked when it ends
    (`settle_held_changes`): the run's own writes are notified before it has stored their versions, and checked at
    once they would pass for real changes and cost a second, empty run. Otherwise the sync's own writes are dropped
    and anything else marks the object dirty. Answers whether the object was marked (or its changes held)."""
    now = now or timezone.now()
    with transaction.atomic():
        row = (UserObjectState.objects.select_for_update().filter(user_id=user_id, object=object_type)
               .values("pk", "lease_owner", "lease_expires_at", "held_changes").first())
        if row and row["lease_owner"] and row["lease_expires_at"] and row["lease_expires_at"] > now:
            held = {**(row["held_changes"] or {}), **changes}
            if len(held) <= HOLD_LIMIT:
                UserObjectState.objects.filter(pk=row["pk"]).update(held_changes=held)
                return True
    if only_echoes(user_id, object_type, changes):
        return False
    return bool(mark_dirty([user_id], [object_type], now=now))


def settle_held_changes(state_pk: int) -> bool:
    """After a run released its object: check the Outlook changes held while it ran against the links it committed;
    anything but its own writes marks the object dirty. Answers whether it was marked."""
    with transaction.atomic():
        row = (UserObjectState.objects.select_for_update().filter(pk=state_pk)
               .values("user_id", "object", "held_changes").first())
        if not row or not row["held_changes"]:
            return False
        UserObjectState.objects.filter(pk=state_pk).update(held_changes={})
    if only_echoes(row["user_id"], row["object"], row["held_changes"]):
        return False
    return bool(mark_dirty([row["user_id"]], [row["object"]]))
