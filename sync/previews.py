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
from collections.abc import Callable, Collection, Sequence
from datetime import datetime

from celery import current_app
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from configurations.models import OutlookConfiguration
from configurations.services import Proposed, delete_configuration, propose, update_configuration
from configurations.soql import DataSetError
from sync import engine
from sync.connectors.base import ConnectorError, NeedsAttention
from sync.engine.memory import MemoryLinkStore, MemoryWatermarks
from sync.error_words import describe_error
from sync.linkstore import DjangoLinkStore, DjangoWatermarks
from sync.models import Preview
from sync.options import OBJECTS, engine_setting, resolve_scope, synced_objects
from sync.progress import blamed_on
from sync.queue import QueueUnavailable
from sync.runner import Clients, build_clients, check_permissions
from users.models import SyncState, SyncUser, UserObjectState
from users.services import assign_users, assigned_user_ids, effective_configuration, find_user, unassign_users

log = logging.getLogger(__name__)

PREVIEW_TASK = "sync.tasks.compute_preview"
SAMPLE_USERS = 20  # an impact preview reads at most this many users' ends, and says when it sampled
EXAMPLES = 5  # examples by name per object in an impact preview
ACTIONS_SHOWN = 200  # actions listed per object in a dry run (the counts are always complete)
SF, OL = engine.Side.SALESFORCE, engine.Side.OUTLOOK


class WriteRefused(RuntimeError):
    """A preview asked an end to write: a defect, stopped before anything reached the end."""


class PreviewRefused(ValueError):
    """A preview that cannot be computed as asked (nothing to sync, unknown users): the sentence says why."""


# ---- the ends, read only -----------------------------------------------------------------------------------------


class ReadOnlySide:
    """One end's side for the engine with every write refused: a preview can read, never write."""

    def __init__(self, inner, *, folder_may_be_created: bool = False):
        self._inner, self.side = inner, inner.side
        self._folder_may_be_created = folder_may_be_created
        self.folder_missing = False  # the contacts folder does not exist yet: a first sync would create it

    def changes(self, watermark: str | None) -> engine.ChangeSet:
        try:
            return self._inner.changes(watermark)
        except NeedsAttention as exc:
            if not (self._folder_may_be_created and exc.code == "contacts_folder_missing"):
                raise
            self.folder_missing = True
            return engine.ChangeSet(self.side, {}, set(), True, None)

    def fetch(self, record_ids: Collection[str]) -> dict[str, engine.SideRecord]:
        return {} if self.folder_missing else self._inner.fetch(record_ids)

    def lookup(self, request: engine.LookupRequest) -> list[engine.SideRecord]:
        return [] if self.folder_missing else self._inner.lookup(request)

    def lookup_many(self, requests: Sequence[engine.LookupRequest]) -> list[list[engine.SideRecord]]:
        return [[] for _ in requests] if self.folder_missing else self._inner.lookup_many(requests)

    def create(self, requests):
        raise WriteRefused("a preview never creates records")

    def update(self, requests):
        raise WriteRefused("a preview never updates records")

    def delete(self, record_ids):
        raise WriteRefused("a preview never deletes records")


def _memory_copy(links: DjangoLinkStore) -> MemoryLinkStore:
    copy = MemoryLinkStore()
    existing = list(links)
    if existing:
        copy.commit(existing, [])
    return copy


# ---- names and reasons -------------------------------------------------------------------------------------------


def record_name(object_type: str, fields: dict | None) -> str:
    """How a person recognises a record: a contact's name and e-mail, an event's subject and start, a task's
    subject and due date."""
    fields = fields or {}
    if object_type == "contacts":
        name = " ".join(str(fields[k]) for k in ("first_name", "last_name") if fields.get(k)) or "(no name)"
        return f"{name} <{fields['email']}>" if fields.get("email") else name
    subject = str(fields.get("subject") or "(no subject)")
    when = fields.get("start") if object_type == "events" else fields.get("due_date")
    return f"{subject} ({str(when)[:16].replace('T', ' ')})" if when else subject


REASONS = {
    "new_in_salesforce": "It is new in Salesforce.",
    "new_in_outlook": "It is new in Outlook.",
    "salesforce_changed": "It changed in Salesforce.",
    "outlook_changed": "It changed in Outlook.",
    "salesforce_deleted": "It was deleted in Salesforce.",
    "outlook_deleted": "It was deleted in Outlook.",
    "salesforce_left_scope": "It left the data set in Salesforce.",
    "outlook_left_scope": "It left the sync's scope in Outlook.",
    "conflict_salesforce_wins": "It changed on both sides (or changed on one and was deleted on the other); "
                                "Salesforce wins.",
    "conflict_outlook_wins": "It changed on both sides (or changed on one and was deleted on the other); "
                             "Outlook wins.",
    "match_stamp": "The Outlook item carries this record's Salesforce id.",
    "match_email": "Both records have the same e-mail address.",
    "match_name_company": "Both records have the same first name, last name and company.",
    "match_subject_start_end": "Both events have the same subject, start and end.",
    "match_subject_due_date": "Both tasks have the same subject and due date.",
    "retry_create": "An earlier create did not finish; it is tried again.",
    "tokens_refreshed": "Only the version tokens changed; no content to copy.",
    "same_change_on_both_sides": "Both sides hold the same content already.",
    "removed_on_both_sides": "It was deleted on both sides.",
    "direction_changed": "The direction no longer sends this side's changes.",
    "out_of_scope": "It is outside the data set.",
    "copy_of_synced": "It is a copy of a record that is already synced.",
}


def reason_sentence(code: str) -> str:
    """The engine's short reason code as a sentence (codes made of parts are explained part by part)."""
    if code in REASONS:
        return REASONS[code]
    for suffix, winner in (("_salesforce_wins", "Salesforce"), ("_outlook_wins", "Outlook")):
        if code.endswith(suffix) and code[: -len(suffix)] in REASONS:
            return f"{REASONS[code[: -len(suffix)]][:-1]}, and the two differ: {winner} wins."
    return code.replace("_", " ").capitalize() + "."


# ---- one user's object -------------------------------------------------------------------------------------------


def _empty_summary() -> dict:
    return {"create": {"salesforce": 0, "outlook": 0}, "update": {"salesforce": 0, "outlook": 0},
            "delete": {"salesforce": 0, "outlook": 0}, "link": 0, "unlink": 0, "conflicts": 0}


def plan_object(user: SyncUser, object_type: str, *, proposed: Proposed | None = None,
                clients: Clients | None = None, now: datetime | None = None,
                guards: engine.Guards | None = None) -> dict:
    """What a sync of the user's object would do now (under `proposed`, if given), without doing it.

    Answers a summary: counts per action and side, the actions with record names and reasons, the conflicts with
    who wins, per-record issues, and whether the run would be refused by a guard or stop for a person to act."""
    now = now or timezone.now()
    scope = resolve_scope(user, object_type, now, proposed)
    if isinstance(scope, tuple):
        return {**_empty_summary(), "synced": False, "detail": scope[1], "actions": [], "issues": []}
    state = UserObjectState.objects.filter(user=user, object=object_type).first()
    stored = DjangoLinkStore(user.pk, object_type)
    watermarks = MemoryWatermarks()
    moved = False
    if state is not None:
        real = DjangoWatermarks(state)
        for side in (SF, OL):
            watermarks.set(side, real.get(side))
        synced_with = state.exchange_protocol or ("ews" if state.exchange_sync_state or state.last_success_at
                                                  else "")
        moved = bool(synced_with) and synced_with != scope.route.protocol
    links = MemoryLinkStore() if moved else _memory_copy(stored)
    if moved:
        watermarks = MemoryWatermarks()
    full = (state is None or state.state == SyncState.NOT_STARTED or moved
            or (state.salesforce_watermark is None and not state.exchange_sync_state)
            or scope.fingerprint != state.scope_fingerprint)
    first_or_reset = watermarks.get(OL) is None
    summary = {**_empty_summary(), "synced": True, "full": full, "detail": "", "actions": [], "issues": []}
    try:
        clients = clients or build_clients(user, scope.route)
        if full or state is None or state.state in (SyncState.NEEDS_ATTENTION, SyncState.NOT_STARTED):
            with blamed_on("salesforce"):
                check_permissions(clients, object_type, scope.data_setting.direction)
        with blamed_on("salesforce"):
            salesforce = ReadOnlySide(clients.salesforce.side(object_type, scope.options))
        with blamed_on("exchange"):
            outlook = ReadOnlySide(clients.exchange.side(object_type, scope.options, create_folder=False),
                                   folder_may_be_created=first_or_reset and object_type == "contacts")
            # A "keep them and unlink" no run has applied yet applies to what this plan shows too.
            release = bool(state is not None and state.release_scope_exits)
            planned = engine.plan_sync(object_type, engine_setting(scope.data_setting, release_scope_exits=release),
                                       salesforce, outlook, links, watermarks, full=full, guards=guards)
    except (ConnectorError, DataSetError) as exc:
        summary.update(stopped=True, detail=_stop_sentence(exc))
        return summary
    if outlook.folder_missing:
        summary["folder_created"] = scope.options.contacts_folder
    summary.update(_summarize(object_type, planned, {SF: salesforce, OL: outlook}))
    return summary


def _stop_sentence(exc: Exception) -> str:
    if isinstance(exc, DataSetError):
        return f"A sync would stop: the data set cannot be compiled: {exc}"
    return f"A sync would stop before writing anything: {describe_error(exc)}"


def _summarize(object_type: str, planned: engine.Planned, sides: dict) -> dict:
    plan, changes = planned.plan, planned.changes
    counts = _empty_summary()
    wanted_names: dict[engine.Side, set[str]] = {SF: set(), OL: set()}
    for action in plan.actions:
        if (action.kind in (engine.ActionKind.UPDATE, engine.ActionKind.DELETE) and action.side is not None
                and action.record_id and action.record_id not in changes[action.side].records):
            wanted_names[action.side].add(action.record_id)
    names: dict[str, str] = {}
    for side, ids in wanted_names.items():
        ids = set(sorted(ids)[:ACTIONS_SHOWN])
        if ids and not getattr(sides[side], "folder_missing", False):
            try:
                found = sides[side]._inner.fetch(ids)
            except ConnectorError:
                found = {}
            names.update({i: record_name(object_type, dict(r.fields)) for i, r in found.items()})

    def name_of(action: engine.Action) -> str:
        if action.fields is not None:
            return record_name(object_type, dict(action.fields))
        for side, record_id in ((action.side, action.record_id),
                                (SF, action.link.salesforce_id if action.link else None),
                                (OL, action.link.outlook_id if action.link else None),
                                (SF, action.previous.salesforce_id if action.previous else None),
                                (OL, action.previous.outlook_id if action.previous else None)):
            if side is not None and record_id:
                record = changes[side].records.get(record_id)
                if record is not None:
                    return record_name(object_type, dict(record.fields))
                if record_id in names:
                    return names[record_id]
        return f"(record {action.record_id or '?'})"

    actions = []
    for action in plan.actions:
        if action.kind in (engine.ActionKind.LINK, engine.ActionKind.UNLINK):
            if action.kind is engine.ActionKind.LINK and action.previous is not None:
                continue  # a link refreshed (versions, marks): nothing a person would call a change
            counts[action.kind.value] += 1
        elif action.side is not None:
            counts[action.kind.value][action.side.value] += 1
        else:
            continue
        if len(actions) < ACTIONS_SHOWN:
            actions.append({"action": action.kind.value, "side": action.side.value if action.side else "",
                            "name": name_of(action), "reason": reason_sentence(action.reason),
                            "reason_code": action.reason})
    counts["conflicts"] = len(plan.conflicts)
    conflicts = [{"kind": c.kind, "winner": c.winner.value, "outcome": c.outcome,
                  "name": _conflict_name(object_type, c, changes, names)} for c in plan.conflicts[:ACTIONS_SHOWN]]
    issues = [{"side": i.side.value, "record_id": i.record_id or "", "code": i.code, "message": i.message}
              for i in plan.issues[:ACTIONS_SHOWN]]
    result = {**counts, "actions": actions, "conflict_list": conflicts, "issues": issues}
    if plan.refusal is not None:
        result.update(refused=True, detail=f"A sync would stop before writing anything: {plan.refusal.reason}")
    return result


def _conflict_name(object_type: str, conflict: engine.Conflict, changes: dict, names: dict) -> str:
    for side, record_id in ((SF, conflict.salesforce_id), (OL, conflict.outlook_id)):
        if record_id and record_id in changes[side].records:
            return record_name(object_type, dict(changes[side].records[record_id].fields))
        if record_id and record_id in names:
            return names[record_id]
    return "(a record)"


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
    a change that could not be saved is never queued."""
    kinds = [k for k in IMPACT_KINDS if k in request]
    if len(kinds) != 1:
        raise PreviewRefused("Say what to preview: a change of the configuration, \"assign\", \"unassign\" or "
                             "\"delete\" (exactly one).")
    kind = kinds[0]
    if kind == "change":
        propose(configuration, request["change"])  # raises ConfigurationInvalid with the fields' errors
    elif kind in ("assign", "unassign"):
        names = request[kind]
        if not isinstance(names, list) or not names or not all(isinstance(n, str | int) for n in names):
            raise PreviewRefused(f"Give \"{kind}\" a list of users (ids, Salesforce usernames or e-mail addresses).")
        request = {kind: [str(n) for n in names]}
    elif request["delete"] is not True:
        raise PreviewRefused("To preview deleting the configuration, send {\"delete\": true}.")
    preview = Preview.objects.create(kind=Preview.Kind.IMPACT, configuration=configuration, requested_by=actor,
                                     request={kind: request[kind]}, progress={"done": 0, "total": 0,
                                                                              "step": "queued"})
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
    after, affected = _configuration_after(configuration, kind, request, named)
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
                summary = plan_object(user, object_type, proposed=proposed, clients=ends)
            elif target in fallbacks:
                summary = {**plan_object(user, object_type, proposed=fallbacks[target], clients=ends),
                           "falls_back": True}
            else:
                summary = _left_behind(user, object_type, configuration)
            _add(objects.setdefault(object_type, {**_empty_summary(), "examples": [], "users_stopped": 0,
                                                  "users_synced": 0, "users_stopping": 0,
                                                  "users_falling_back": 0}), summary, user)
    _progress(preview, len(sample), len(sample), "done")
    return {"users": len(user_ids), "sampled": len(sample) < len(user_ids), "users_read": len(sample),
            "unknown": unknown, "kind": kind, "stops": stops, "objects": objects,
            "fallbacks": [{"configuration": name, "users": count} for name, count in sorted(falling_back.items())]}


class _WhatIf(Exception):
    """Ends the savepoint in which a change was made only to see what it would do."""


def _configuration_after(configuration: OutlookConfiguration, kind: str, request: dict,
                         named: set[int]) -> tuple[dict[int, int | None], set[int]]:
    """user id → the configuration that would apply to the user after the change (None: none), for every user the
    change touches: those named, and for a change of the configuration everyone it applies to before or after (a
    profile added brings users in). The change is made inside a savepoint that is always rolled back: nothing of it
    (rows, audit entries, queued tasks) survives."""
    after: dict[int, int | None] = {}
    affected = set(named)
    try:
        with transaction.atomic():
            if kind == "change":
                update_configuration(configuration, request["change"])
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
            raise _WhatIf
    except _WhatIf:
        pass
    return after, affected


def _left_behind(user: SyncUser, object_type: str, configuration: OutlookConfiguration) -> dict:
    """Unassigning a user (or deleting the configuration) stops the user's sync: no record is deleted on either
    end, and the links are kept (`kept`), so that a later assignment picks up where the sync stopped."""
    summary = {**_empty_summary(), "synced": True, "stops": True, "kept": 0, "actions": [], "issues": []}
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


def plan_lines(object_type: str, summary: dict) -> list[str]:
    """One object's dry-run summary as lines of text (the `sync_user --dry-run` command prints them)."""
    if not summary.get("synced"):
        return [f"{object_type}: not synced. {summary['detail']}"]
    if summary.get("stopped"):
        return [f"{object_type}: {summary['detail']}"]
    parts = [f"{kind} {summary[kind][side]} in {side.title()}" for kind in ("create", "update", "delete")
             for side in ("salesforce", "outlook") if summary[kind][side]]
    parts += [f"{kind} {summary[kind]}" for kind in ("link", "unlink", "conflicts") if summary[kind]]
    read = "full read" if summary.get("full") else "incremental"
    lines = [f"{object_type} ({read}): {', '.join(parts) or 'nothing to do'}."]
    if summary.get("folder_created"):
        lines.append(f"  The contacts folder {summary['folder_created']!r} would be created.")
    if summary.get("refused"):
        lines.append(f"  {summary['detail']}")
    for action in summary["actions"]:
        where = f" in {action['side'].title()}" if action["side"] else ""
        lines.append(f"  {action['action']}{where}: {action['name']}: {action['reason']}")
    for conflict in summary.get("conflict_list", []):
        lines.append(f"  conflict ({conflict['kind'].replace('_', ' ')}): {conflict['name']}: "
                     f"{conflict['winner'].title()} wins, {conflict['outcome']}.")
    for issue in summary.get("issues", []):
        lines.append(f"  issue in {issue['side'].title()} {issue['record_id']}: {issue['message']}")
    return lines
