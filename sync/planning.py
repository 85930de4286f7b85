"""Planning one user's object without writing: the engine's plan read from both ends through the same connectors
as a run (read-only sides that refuse any write, in-memory copies of the links and watermarks), summarised with
record names and reasons in sentences. `sync.previews` runs it as a background job (dry runs, impact previews);
`manage.py sync_user --dry-run` prints it."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime

from django.utils import timezone

from configurations.services import Proposed
from configurations.soql import DataSetError
from sync import engine
from sync.connectors.base import ConnectorError, NeedsAttention
from sync.engine.memory import MemoryLinkStore, MemoryWatermarks
from sync.error_words import describe_error
from sync.linkstore import DjangoLinkStore, DjangoWatermarks
from sync.options import engine_setting, resolve_scope
from sync.progress import blamed_on
from sync.runner import Clients, build_clients, check_permissions
from users.models import SyncState, SyncUser, UserObjectState

log = logging.getLogger(__name__)

SF, OL = engine.Side.SALESFORCE, engine.Side.OUTLOOK
ACTIONS_SHOWN = 200  # actions listed per object in a dry run (the counts are always complete)
KEPT_UNLINKED = "salesforce_left_scope_kept"  # the engine's reason for a copy kept, unlinked ("keep them and unlink")


class WriteRefused(RuntimeError):
    """A preview asked an end to write: a defect, stopped before anything reached the end."""


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
    "salesforce_left_scope_kept": "It left the data set in Salesforce; its Outlook copy is kept as it is, no longer "
                                  "synced (the admin chose to keep such copies and unlink them).",
    "outlook_left_scope": "It left the sync's scope in Outlook.",
    "conflict_salesforce_wins": "It changed on both sides (or changed on one and was deleted on the other); "
                                "Salesforce wins.",
    "conflict_outlook_wins": "It changed on both sides (or changed on one and was deleted on the other); "
                             "Outlook wins.",
    "merged_salesforce_wins": "It changed on both sides and is merged field by field: each side keeps the fields "
                              "only it changed; Salesforce wins the fields changed on both.",
    "merged_outlook_wins": "It changed on both sides and is merged field by field: each side keeps the fields only "
                           "it changed; Outlook wins the fields changed on both.",
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


def empty_summary() -> dict:
    return {"create": {"salesforce": 0, "outlook": 0}, "update": {"salesforce": 0, "outlook": 0},
            "delete": {"salesforce": 0, "outlook": 0}, "link": 0, "unlink": 0, "conflicts": 0}


def plan_object(user: SyncUser, object_type: str, *, proposed: Proposed | None = None,
                clients: Clients | None = None, now: datetime | None = None,
                guards: engine.Guards | None = None, release_scope_exits: bool | None = None) -> dict:
    """What a sync of the user's object would do now (under `proposed`, if given), without doing it.

    `release_scope_exits` is the "keep them and unlink" choice the change being previewed would store (None: the
    one stored now, which the next run applies).

    Answers a summary: counts per action and side, the actions with record names and reasons, the conflicts with
    who wins, per-record issues, and whether the run would be refused by a guard or stop for a person to act."""
    now = now or timezone.now()
    scope = resolve_scope(user, object_type, now, proposed)
    if isinstance(scope, tuple):
        return {**empty_summary(), "synced": False, "detail": scope[1], "actions": [], "issues": []}
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
    summary = {**empty_summary(), "synced": True, "full": full, "detail": "", "actions": [], "issues": []}
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
            release = (bool(state is not None and state.release_scope_exits) if release_scope_exits is None
                       else release_scope_exits)
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
    counts = empty_summary()
    wanted_names: dict[engine.Side, set[str]] = {SF: set(), OL: set()}
    for action in plan.actions:
        if (action.kind in (engine.ActionKind.UPDATE, engine.ActionKind.DELETE) and action.side is not None
                and action.record_id and action.record_id not in changes[action.side].records):
            wanted_names[action.side].add(action.record_id)
        elif (action.reason == KEPT_UNLINKED and action.link is not None and action.link.outlook_id
              and action.link.outlook_id not in changes[OL].records):
            wanted_names[OL].add(action.link.outlook_id)  # named like the delete it replaces: by the Outlook copy
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
        kind, side = action.kind.value, action.side.value if action.side else ""
        if action.reason == KEPT_UNLINKED:
            # The engine keeps the pair's ids (a released link) where it would have deleted the Outlook copy: to a
            # person, the copy is unlinked instead of deleted.
            kind, side = "unlink", OL.value
            counts["unlink"] += 1
            counts["unlink_kept"] = counts.get("unlink_kept", 0) + 1
        elif action.kind in (engine.ActionKind.LINK, engine.ActionKind.UNLINK):
            if action.kind is engine.ActionKind.LINK and action.previous is not None:
                continue  # a link refreshed (versions, marks): nothing a person would call a change
            counts[action.kind.value] += 1
        elif action.side is not None:
            counts[action.kind.value][action.side.value] += 1
        else:
            continue
        if len(actions) < ACTIONS_SHOWN:
            actions.append({"action": kind, "side": side,
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
