"""Bulk actions on synced users: sync now, reset, assign to a configuration or unassign, for the users picked on the
users list (or every user matching its filters). One operation, atomic and audited once as a whole; each user's
part is done by the one-user operation (``users.operations.sync_now`` / ``reset_sync``, ``users.services.
assign_users`` / ``unassign_users``), so the rules, the refusals and the per-user audit entries stay theirs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from audit.models import AuditEntry
from audit.services import record
from configurations.models import OutlookConfiguration, SyncObject
from sync.leases import SyncUnavailable
from sync.queue import require_broker
from users import operations, services
from users.filters import FILTERS, filter_users
from users.models import SyncUser

ACTIONS = ("sync", "reset", "assign", "unassign")
ACTION_LABELS = {"sync": "Sync now", "reset": "Reset", "assign": "Assign", "unassign": "Unassign"}
MAX_USERS = 5000  # one request's share of work; more is a script's loop over pages of users


class BulkInvalid(Exception):
    """The request cannot be met as asked: ``errors`` by field, as the API's 400 and the console's messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(m for messages in errors.values() for m in messages))
        self.errors = errors


@dataclass
class BulkResult:
    """``matched`` users were picked; ``queued`` says what was done for each user it was done for (the runs queued,
    or the assignment made), ``skipped`` why nothing was done for the others, in a sentence."""

    action: str
    matched: int
    queued: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    configuration: OutlookConfiguration | None = None

    def as_dict(self) -> dict:
        return {"matched": self.matched, "queued": self.queued, "skipped": self.skipped, "detail": self.sentence()}

    def sentence(self) -> str:
        """"Sync queued for 3 of the 5 users selected; 2 were left as they were (nobody@example.com: No synced user
        has ...)."""
        done, left = len(self.queued), len(self.skipped)
        if done == self.matched:
            of = f"the {_users(done)} selected" if done != 1 else "the user selected"
        else:
            of = f"{done} of the {_users(self.matched)} selected"
        what = {"sync": f"Sync queued for {of}",
                "reset": f"Reset done and a full matching sync queued for {of}",
                "assign": f"Assigned {of} to {self.configuration.name if self.configuration else ''}",
                "unassign": f"Unassigned {of}"}[self.action]
        if not left:
            return f"{what}."
        first = self.skipped[0]
        reason = first["reason"].rstrip(".")
        return (f"{what}; {left} {'was' if left == 1 else 'were'} left as {'it was' if left == 1 else 'they were'}"
                f" ({first['username']}: {reason[0].lower()}{reason[1:]}{', and others' if left > 1 else ''}).")


def _users(n: int) -> str:
    return f"{n} user{'' if n == 1 else 's'}"


def select_users(users: list[Any] | None = None, filters: Mapping[str, str] | None = None,
                 ) -> tuple[list[SyncUser], list[Any]]:
    """The users a bulk action is for: named (ids, Salesforce ids, usernames, e-mail addresses: mixed), or every user
    matching the users list's filters. Returns (users in list order, identifiers that matched nobody)."""
    if (users is None) == (filters is None):
        raise BulkInvalid({"users": ["Name the users (\"users\": [...]) or give the list's filters (\"filter\": "
                                     "{...}), one of the two."]})
    if filters is not None:
        unknown = sorted(set(filters) - set(FILTERS))
        if unknown:
            raise BulkInvalid({"filter": [f"Unknown filter {', '.join(unknown)}: use {', '.join(FILTERS)}."]})
        params = {k: str(v) for k, v in filters.items() if str(v).strip()}
        queryset, errors = filter_users(services.with_effective_configuration(), params, FILTERS)
        if errors:
            raise BulkInvalid({"filter": [f"{name}: {' '.join(m)}" for name, m in errors.items()]})
        picked = list(queryset.order_by("username", "pk")[: MAX_USERS + 1])
        missing: list[Any] = []
    else:
        if not users:
            raise BulkInvalid({"users": ["Select at least one user."]})
        found, missing = services.resolve_users(list(users))
        pks = list(dict.fromkeys(row["pk"] for _, row in found))
        by_pk = SyncUser.objects.in_bulk(pks)
        picked = [by_pk[pk] for pk in pks if pk in by_pk]
    if len(picked) > MAX_USERS:
        raise BulkInvalid({"users": [f"At most {MAX_USERS} users at a time: narrow the filters and repeat."]})
    return picked, missing


def _entry(user: SyncUser, **values) -> dict:
    return {"user": user.pk, "username": user.username, **values}


@transaction.atomic
def bulk_action(action: str, users: list[SyncUser], *, unknown: list[Any] = (), objects: list[str] | None = None,
                configuration: OutlookConfiguration | None = None, actor=None) -> BulkResult:
    """Do ``action`` for each of ``users`` (from ``select_users``): ``sync`` or ``reset`` some or all of their
    objects, ``assign`` them directly to ``configuration``, or ``unassign`` their direct assignment.

    What cannot be done for a user (nothing to sync, every object already under way, no direct assignment) is
    skipped with the reason; the others are done. Raises BulkInvalid for a bad request and QueueUnavailable, before
    anything is saved, when the task broker does not answer (sync and reset)."""
    if action not in ACTIONS:
        raise BulkInvalid({"action": [f"Choose an action among {', '.join(ACTIONS)}."]})
    if objects is not None and action in ("sync", "reset"):
        bad = [name for name in objects if name not in SyncObject.values]
        if bad or not objects:
            raise BulkInvalid({"objects": [f"Choose objects among {', '.join(SyncObject.values)}."]})
    if action == "assign" and configuration is None:
        raise BulkInvalid({"configuration": ["Choose the configuration to assign the users to."]})
    result = BulkResult(action, matched=len(users) + len(unknown), configuration=configuration)
    result.skipped += [{"user": None, "username": str(u)[:254], "reason": "No synced user has this id, username or "
                        "e-mail address."} for u in unknown]
    if action in ("sync", "reset"):
        require_broker()  # once for all: an unreachable broker leaves nothing behind
        _queue_each(action, users, objects, actor, result)
    elif action == "assign":
        _assign(users, configuration, actor, result)
    else:
        _unassign(users, configuration, actor, result)
    record(AuditEntry.Action.USERS_BULK, actor, configuration if action == "assign" else None,
           summary=f"{ACTION_LABELS[action]} for {len(users)} selected user(s): {len(result.queued)} done, "
                   f"{len(result.skipped)} skipped",
           changes={"action": action, "objects": objects or [], "done": [e["user"] for e in result.queued],
                    "skipped": [{"user": e["user"], "reason": e["reason"]} for e in result.skipped]})
    return result


def _queue_each(action: str, users: list[SyncUser], objects, actor, result: BulkResult) -> None:
    operation = operations.reset_sync if action == "reset" else operations.sync_now
    for user in users:
        try:
            runs = operation(user, objects, actor=actor, check_broker=False)
        except SyncUnavailable as exc:
            result.skipped.append(_entry(user, reason=str(exc)))
        except ValueError as exc:
            result.skipped.append(_entry(user, reason=f"{exc}."))
        else:
            result.queued.append(_entry(user, runs=[run.pk for run in runs],
                                        busy=[b.as_dict() for b in runs.busy]))


def _assign(users: list[SyncUser], configuration: OutlookConfiguration, actor, result: BulkResult) -> None:
    outcome = services.assign_users(configuration, [user.pk for user in users], actor=actor)
    by_pk = {user.pk: user for user in users}
    for pk in outcome.assigned:
        result.queued.append(_entry(by_pk[pk], result="assigned"))
    for pk in outcome.moved:
        result.queued.append(_entry(by_pk[pk], result="moved"))
    for pk in outcome.unchanged:
        result.skipped.append(_entry(by_pk[pk], reason=f"Already assigned to {configuration.name}."))


def _unassign(users: list[SyncUser], configuration: OutlookConfiguration | None, actor, result: BulkResult) -> None:
    """Remove each user's direct assignment (to ``configuration`` only, when given): per configuration, once."""
    by_configuration: dict[int, list[SyncUser]] = {}
    for user in users:
        if user.configuration_id is None:
            result.skipped.append(_entry(user, reason="Has no direct assignment (a profile's configuration is "
                                                      "changed on the configuration's profiles)."))
        elif configuration is not None and user.configuration_id != configuration.pk:
            result.skipped.append(_entry(user, reason=f"Is not assigned to {configuration.name}."))
        else:
            by_configuration.setdefault(user.configuration_id, []).append(user)
    for source in OutlookConfiguration.objects.filter(pk__in=by_configuration).order_by("pk"):
        outcome = services.unassign_users(source, [user.pk for user in by_configuration[source.pk]], actor=actor)
        by_pk = {user.pk: user for user in by_configuration[source.pk]}
        for pk in outcome.unassigned:
            result.queued.append(_entry(by_pk[pk], result="unassigned", configuration=source.pk))
        for pk in outcome.unchanged:
            result.skipped.append(_entry(by_pk[pk], reason=f"Was no longer assigned to {source.name}."))
