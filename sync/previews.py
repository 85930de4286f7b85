"""Dry runs and impact previews: the plan a sync would apply now, read from both ends and never applied.

A dry run plans one user's objects exactly as a run would (the same scope, options, link table, watermarks and
guards, through the same connectors) on in-memory copies of the links and watermarks, then stops before the first
write: the ends are only read, and the database keeps only the `Preview` row with its result. An impact preview
does the same for the users a configuration change would affect, under the configuration as the change would
leave it (never saved), and adds up what their syncs would create, delete and unlink.

The work runs on a worker (`compute_preview`); the API and the console ask for it (`request_dry_run`,
`request_impact`) and read the row until it is done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import current_app
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from configurations.models import OutlookConfiguration
from configurations.services import (
    ON_SCOPE_EXIT_CHOICES,
    ON_SCOPE_EXIT_INVALID,
    delete_configuration,
    propose,
    update_configuration,
)
from configurations.validation import ConfigurationInvalid
from sync.linkstore import DjangoLinkStore
from sync.models import Preview
from sync.options import OBJECTS, synced_objects
from sync.planning import empty_summary, plan_object
from sync.queue import QueueUnavailable
from sync.runner import Clients
from users.models import SyncUser, UserObjectState
from users.services import assign_users, assigned_user_ids, effective_configuration, find_user, unassign_users

log = logging.getLogger(__name__)

PREVIEW_TASK = "sync.tasks.compute_preview"
SAMPLE_USERS = 20  # an impact preview reads at most this many users' ends, and says when it sampled
EXAMPLES = 5  # examples by name per object in an impact preview


class PreviewRefused(ValueError):
    """A preview that cannot be computed as asked (nothing to sync, unknown users): the sentence says why."""


# ---- the jobs ----------------------------------------------------------------------------------------------------


def _send(preview: Preview) -> None:
    """Publish the preview's task for immediate delivery once the row is committed (never a countdown). An
    unreachable broker fails the preview with a sentence instead of an error after the commit."""

    def send() -> None:
        try:
            send_preview(preview.pk)
        except (BrokerError, OSError) as exc:
            log.warning("the task broker refused preview %s (%s)", preview.pk, exc)
            Preview.objects.filter(pk=preview.pk, state=Preview.State.QUEUED).update(
                state=Preview.State.FAILED, finished_at=timezone.now(),
                error_message=QueueUnavailable().args[0])

    transaction.on_commit(send)


def send_preview(preview_id: int) -> None:
    """The queue seam for previews (tests replace it to compute in-process)."""
    current_app.signature(PREVIEW_TASK, args=[preview_id]).apply_async(queue="default", retry=False)


@transaction.atomic
def request_dry_run(user: SyncUser, objects: list[str] | None = None, actor=None) -> Preview:
    """Queue a dry run of the user's objects (default: every object the user's configuration syncs)."""
    effective = effective_configuration(user)
    if effective is None or not user.active:
        reason = "has no configuration assigned" if user.active else "is inactive"
        raise PreviewRefused(f"{user} {reason}, so a sync would do nothing; assign a configuration first.")
    available = synced_objects(effective.configuration)
    wanted = list(objects or available)
    unknown = [o for o in wanted if o not in available]
    if unknown:
        raise PreviewRefused(f"{effective.configuration.name} does not sync {', '.join(unknown)}; it syncs "
                             f"{', '.join(available) or 'nothing'}. Choose among those.")
    preview = Preview.objects.create(kind=Preview.Kind.DRY_RUN, user=user, requested_by=actor,
                                     request={"objects": wanted},
                                     progress={"done": 0, "total": len(wanted), "step": "queued"})
    _send(preview)
    return preview


IMPACT_KINDS = ("change", "assign", "unassign", "delete")


@transaction.atomic
def request_impact(configuration: OutlookConfiguration, request: dict, actor=None) -> Preview:
    """Queue an impact preview of a change to the configuration: `{"change": <PATCH body>}`, `{"assign": [users]}`,
    `{"unassign": [users]}` or `{"delete": true}`. The change is checked now (ConfigurationInvalid) so a preview of
    a change that could not be saved is never queued.

    A change may carry the save's choice for records it takes out of scope, `on_scope_exit` ("delete" or "keep"),
    in its body as the API's PATCH does: the preview then shows what that save would do (kept copies as unlinks)."""
    kinds = [k for k in IMPACT_KINDS if k in request]
    if len(kinds) != 1:
        raise PreviewRefused("Say what to preview: a change of the configuration, \"assign\", \"unassign\" or "
                             "\"delete\" (exactly one).")
    kind = kinds[0]
    on_scope_exit = None
    if kind == "change":
        change = dict(request["change"])
        on_scope_exit = change.pop("on_scope_exit", None)
        if on_scope_exit is not None and on_scope_exit not in ON_SCOPE_EXIT_CHOICES:
            raise ConfigurationInvalid({"on_scope_exit": [ON_SCOPE_EXIT_INVALID]})
        propose(configuration, change)  # raises ConfigurationInvalid with the fields' errors
        request = {"change": change}
    elif kind in ("assign", "unassign"):
        names = request[kind]
        if not isinstance(names, list) or not names or not all(isinstance(n, str | int) for n in names):
            raise PreviewRefused(f"Give \"{kind}\" a list of users (ids, Salesforce usernames or e-mail addresses).")
        request = {kind: [str(n) for n in names]}
    elif request["delete"] is not True:
        raise PreviewRefused("To preview deleting the configuration, send {\"delete\": true}.")
    asked = {kind: request[kind], **({"on_scope_exit": on_scope_exit} if on_scope_exit else {})}
    preview = Preview.objects.create(kind=Preview.Kind.IMPACT, configuration=configuration, requested_by=actor,
                                     request=asked, progress={"done": 0, "total": 0, "step": "queued"})
    _send(preview)
    return preview


def compute_preview(preview_id: int, *, clients: Callable[[SyncUser], Clients] | None = None) -> Preview | None:
    """Compute a queued preview and store its result; a preview already computed or gone is left alone.

    `clients` builds a user's ends (tests, the sandbox); by default they come from the connections."""
    claimed = Preview.objects.filter(pk=preview_id, state=Preview.State.QUEUED).update(
        state=Preview.State.RUNNING, progress={"done": 0, "total": 0, "step": "starting"})
    if not claimed:
        return Preview.objects.filter(pk=preview_id).first()
    preview = Preview.objects.select_related("user", "configuration").get(pk=preview_id)
    try:
        compute = _dry_run if preview.kind == Preview.Kind.DRY_RUN else _impact
        result = compute(preview, clients)
    except Exception as exc:  # a defect or an end we could not read: the preview says so, the worker lives on
        log.exception("preview %s failed", preview_id)
        message = str(exc) if isinstance(exc, PreviewRefused) else (
            "The preview stopped on an unexpected error, so it has no result. Try again; if this keeps happening, "
            "report it with the worker's log.")
        Preview.objects.filter(pk=preview_id).update(state=Preview.State.FAILED, error_message=message,
                                                     finished_at=timezone.now())
    else:
        Preview.objects.filter(pk=preview_id).update(state=Preview.State.DONE, result=result,
                                                     finished_at=timezone.now())
    return Preview.objects.get(pk=preview_id)


def _progress(preview: Preview, done: int, total: int, step: str) -> None:
    Preview.objects.filter(pk=preview.pk).update(progress={"done": done, "total": total, "step": step})


def _dry_run(preview: Preview, clients: Callable[[SyncUser], Clients] | None) -> dict:
    user = preview.user
    wanted = preview.request.get("objects") or list(OBJECTS)
    ends = clients(user) if clients else None
    objects = {}
    for position, object_type in enumerate(wanted):
        _progress(preview, position, len(wanted), f"Reading {object_type}")
        objects[object_type] = plan_object(user, object_type, clients=ends)
    _progress(preview, len(wanted), len(wanted), "done")
    return {"users": 1, "sampled": False, "objects": objects}


def _impact(preview: Preview, clients: Callable[[SyncUser], Clients] | None) -> dict:
    """Per affected user, the plan under the proposed configuration; added up per object with examples."""
    configuration = preview.configuration
    if configuration is None:
        raise PreviewRefused("The configuration was deleted before the preview ran, so there is nothing to compare.")
    request = preview.request
    kind = next(k for k in IMPACT_KINDS if k in request)
    unknown: list[str] = []
    if kind in ("assign", "unassign"):
        found = [(name, find_user(name)) for name in request[kind]]
        unknown = [name for name, user in found if user is None]
        named = {user.pk for _, user in found if user is not None}
    else:
        named = set(assigned_user_ids(configuration.pk))
    proposed = propose(configuration, request["change"] if kind == "change" else {})
    # Which configuration each user would sync under once the change is saved: this one (changed), another one
    # they fall back to (their profile's), or none. Worked out by making the change and rolling it back.
    after, affected, released = _configuration_after(configuration, kind, request, named)
    user_ids = sorted(affected)
    stops = kind in ("unassign", "delete") or not proposed.configuration.active
    fallbacks = {pk: propose(OutlookConfiguration.objects.get(pk=pk), {})
                 for pk in {c for c in after.values() if c is not None and c != configuration.pk}}
    sample = user_ids[:SAMPLE_USERS]
    objects: dict[str, dict] = {}
    falling_back: dict[str, int] = {}
    for position, user in enumerate(SyncUser.objects.filter(pk__in=sample).order_by("pk")):
        _progress(preview, position, len(sample), f"Reading {user.username}")
        ends = clients(user) if clients else None
        target = after.get(user.pk)
        if target in fallbacks:
            name = fallbacks[target].configuration.name
            falling_back[name] = falling_back.get(name, 0) + 1
        for object_type in OBJECTS:
            if target == configuration.pk and proposed.configuration.active:
                summary = plan_object(user, object_type, proposed=proposed, clients=ends,
                                      release_scope_exits=(user.pk, object_type) in released)
            elif target in fallbacks:
                summary = {**plan_object(user, object_type, proposed=fallbacks[target], clients=ends),
                           "falls_back": True}
            else:
                summary = _left_behind(user, object_type, configuration)
            _add(objects.setdefault(object_type, {**empty_summary(), "examples": [], "users_stopped": 0,
                                                  "users_synced": 0, "users_stopping": 0,
                                                  "users_falling_back": 0}), summary, user)
    _progress(preview, len(sample), len(sample), "done")
    return {"users": len(user_ids), "sampled": len(sample) < len(user_ids), "users_read": len(sample),
            "unknown": unknown, "kind": kind, "stops": stops, "objects": objects,
            "on_scope_exit": request.get("on_scope_exit", ""),
            "fallbacks": [{"configuration": name, "users": count} for name, count in sorted(falling_back.items())]}


class _WhatIf(Exception):
    """Ends the savepoint in which a change was made only to see what it would do."""


def _configuration_after(configuration: OutlookConfiguration, kind: str, request: dict,
                         named: set[int]) -> tuple[dict[int, int | None], set[int], set[tuple[int, str]]]:
    """user id → the configuration that would apply to the user after the change (None: none), for every user the
    change touches: those named, and for a change of the configuration everyone it applies to before or after (a
    profile added brings users in); and the (user id, object) whose copies of records leaving the scope would be
    kept, unlinked, after the save (its `on_scope_exit` choice, or one an earlier save left for the next run). The
    change is made inside a savepoint that is always rolled back: nothing of it (rows, audit entries, queued
    tasks) survives."""
    after: dict[int, int | None] = {}
    affected = set(named)
    try:
        with transaction.atomic():
            if kind == "change":
                update_configuration(configuration, request["change"], on_scope_exit=request.get("on_scope_exit"))
                affected |= set(assigned_user_ids(configuration.pk))
            elif kind == "assign":
                assign_users(configuration, sorted(named))
            elif kind == "unassign":
                unassign_users(configuration, sorted(named))
            else:
                delete_configuration(configuration)
            for user in SyncUser.objects.filter(pk__in=affected):
                effective = effective_configuration(user)
                after[user.pk] = effective.configuration.pk if effective is not None else None
            released = set(UserObjectState.objects.filter(user_id__in=affected, release_scope_exits=True)
                           .values_list("user_id", "object"))
            raise _WhatIf
    except _WhatIf:
        pass
    return after, affected, released


def _left_behind(user: SyncUser, object_type: str, configuration: OutlookConfiguration) -> dict:
    """Unassigning a user (or deleting the configuration) stops the user's sync: no record is deleted on either
    end, and the links are kept (`kept`), so that a later assignment picks up where the sync stopped."""
    summary = {**empty_summary(), "synced": True, "stops": True, "kept": 0, "actions": [], "issues": []}
    effective = effective_configuration(user)
    if (effective is None or effective.configuration.pk != configuration.pk
            or object_type not in synced_objects(configuration)):
        return {**summary, "synced": False}
    summary["kept"] = len(DjangoLinkStore(user.pk, object_type))
    return summary


def _add(total: dict, summary: dict, user: SyncUser) -> None:
    total["users_synced"] += 1 if summary.get("synced") else 0
    for kind in ("create", "update", "delete"):
        for side in ("salesforce", "outlook"):
            total[kind][side] += summary[kind][side]
    for kind in ("link", "unlink", "conflicts"):
        total[kind] += summary[kind]
    total["unlink_kept"] = total.get("unlink_kept", 0) + summary.get("unlink_kept", 0)
    if "kept" in summary:
        total["kept"] = total.get("kept", 0) + summary["kept"]
    if summary.get("stops") and summary.get("synced"):
        total["users_stopping"] += 1
    if summary.get("falls_back") and summary.get("synced"):
        total["users_falling_back"] += 1
    if summary.get("stopped") or summary.get("refused"):
        total["users_stopped"] += 1
        if len(total["examples"]) < EXAMPLES * 2:
            total["examples"].append({"action": "stop", "side": "", "name": str(user), "reason": summary["detail"]})
    shown = [a for a in summary.get("actions", []) if a["action"] in ("create", "delete", "unlink")]
    for action in shown[: max(0, EXAMPLES - len(total["examples"]))]:
        total["examples"].append({key: action[key] for key in ("action", "side", "name", "reason")})
