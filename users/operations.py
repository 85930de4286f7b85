"""What support, admins and integrations do to synced users: sync now, reset, test the connections, import users.

One function per operation, atomic and audited, called by the console, the API and the commands alike. Runs are
sent to the workers only after the transaction that queued them commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.models import AuditEntry
from audit.services import record
from configurations.models import Direction
from sync.connections import (
    check_failure,
    integration_username,
    one_test_at_a_time,
    open_mailbox,
    required_permissions,
    salesforce_client,
)
from sync.connectors.base import INTERACTIVE_SECONDS, interactive
from sync.leases import SyncUnavailable, busy_runs
from sync.models import SyncRun
from sync.options import OBJECTS, synced_objects
from sync.queue import enqueue_runs, queue_run, require_broker
from sync.routing import mailbox_route
from sync.runner import reset_links
from users.models import SyncState, SyncUser, normalize_time_zone
from users.services import effective_configuration, ensure_object_states, refresh_object_states


@dataclass(frozen=True)
class BusyObject:
    """An object left out of a sync now or reset because a run of it is already queued or running."""

    object: str
    run: int
    state: str  # "queued" | "running"

    def as_dict(self) -> dict:
        return {"object": self.object, "run": self.run, "state": self.state}


def _and(words: list) -> str:
    words = [str(w) for w in words]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _busy_phrase(busy: list[BusyObject]) -> str:
    """"contacts sync is running (run 12) and its events and tasks syncs are queued (runs 13 and 14)"."""
    phrases = []
    for state in ("running", "queued"):
        group = [b for b in busy if b.state == state]
        if len(group) == 1:
            phrases.append(f"{group[0].object} sync is {state} (run {group[0].run})")
        elif group:
            phrases.append(f"{_and([b.object for b in group])} syncs are {state} (runs {_and([b.run for b in group])})")
    return " and its ".join(phrases)


class QueuedRuns(list):
    """The runs queued (a list of SyncRun, in the order asked), and ``busy``: the objects left out because a run of
    theirs was already queued or running. ``sentence`` says both, in the words the console and the API show."""

    def __init__(self, runs: list[SyncRun], busy: list[BusyObject], *, reset: bool):
        super().__init__(runs)
        self.busy, self.reset = busy, reset

    def sentence(self) -> str:
        what = "Reset done; full matching sync queued" if self.reset else "Sync queued"
        queued = ", ".join(f"{run.object} (run {run.pk})" for run in self)  # the console's words since day one
        if not self.busy:
            return f"{what}: {queued}."
        busy = _and([f"{b.object} was already {b.state} (run {b.run})" for b in self.busy])
        one = len(self.busy) == 1
        it, was, them, run, has = ("it", "was", "it", "that run", "has") if one else (
            "they", "were", "them", "those runs", "have")
        if self.reset:
            return f"{what}: {queued}; {busy}, so {it} {was} not reset: reset {them} once {run} {has} ended."
        return f"{what}: {queued}; {busy}, so {it} {was} left to {run}."


class ObjectsBusy(SyncUnavailable):
    """Nothing could be queued: every object asked for has a run queued or running (the API's 409)."""

    def __init__(self, user: SyncUser, busy: list[BusyObject], *, reset: bool):
        if reset:
            message = (f"Nothing was reset: {user}'s {_busy_phrase(busy)}. Reset once that has ended, so that no "
                       "run writes links after they were forgotten.")
        else:
            message = f"Nothing was queued: {user}'s {_busy_phrase(busy)}, so a sync is already under way."
        super().__init__(message, busy[0].run)
        self.busy = busy


def sync_now(user: SyncUser, objects: list[str] | None = None, actor=None, *, check_broker: bool = True,
             ) -> QueuedRuns:
    """Sync now some or all of the user's synced objects: a queued run each, sent to the workers after commit.

    Every object that can be queued is; an object with a run already queued or running is left to that run and
    listed in the answer's ``busy``. Raises ObjectsBusy (a SyncUnavailable naming the run, for the API's 409) when
    every object is busy; SyncUnavailable when the user has nothing to sync or the configuration does not sync an
    object asked for; ValueError for an unknown object; QueueUnavailable when the task broker does not answer
    (then nothing is saved). ``check_broker=False``: the caller checked it already (a bulk action, once for all)."""
    return _queue_runs(user, objects, actor, reset=False, check_broker=check_broker)


def reset_sync(user: SyncUser, objects: list[str] | None = None, actor=None, *, send: bool = True,
               check_broker: bool = True) -> QueuedRuns:
    """Forget the user's links and watermarks for the objects (no record is touched), then a full matching sync.

    A busy object is not reset (a run still working on it would otherwise commit links and advance watermarks
    after they were forgotten): it is left out like in `sync_now`, and ObjectsBusy is raised when every object
    is busy. `send=False` leaves the queued runs to the caller (the foreground `sync_user --reset` runs them
    itself), and then refuses as a whole when any object is busy: the command syncs every object it was given."""
    return _queue_runs(user, objects, actor, reset=True, send=send, check_broker=check_broker)


def _busy_objects(user: SyncUser, wanted: list[str]) -> list[BusyObject]:
    """The wanted objects with a run queued or running, in the order asked (a running run named first)."""
    found: dict[str, BusyObject] = {}
    for run in busy_runs().filter(user=user, object__in=wanted).order_by("-created_at", "-pk"):
        if run.object not in found or (run.state == SyncRun.State.RUNNING and found[run.object].state != "running"):
            found[run.object] = BusyObject(run.object, run.pk, run.state)
    return [found[name] for name in wanted if name in found]


@transaction.atomic
def _queue_runs(user: SyncUser, objects: list[str] | None, actor, *, reset: bool, send: bool = True,
                check_broker: bool = True) -> QueuedRuns:
    if send and check_broker:
        # Checked before anything is saved, so that an unreachable broker leaves no run (and no reset) behind. If
        # the broker fails between this check and the send after commit, the run keeps no `sent_at` and
        # sync.recovery sends it once the broker is back.
        require_broker()
    user = SyncUser.objects.select_for_update().get(pk=user.pk)
    effective = effective_configuration(user)
    if effective is None or not user.active:
        raise SyncUnavailable(f"{user} has no active configuration: assign one first")
    synced = synced_objects(effective.configuration)
    wanted = list(dict.fromkeys(objects)) if objects else synced
    unknown = [name for name in wanted if name not in OBJECTS]
    if unknown:
        raise ValueError(f"unknown objects: {', '.join(unknown)}; use {', '.join(OBJECTS)}")
    not_synced = [name for name in wanted if name not in synced]
    if not_synced:
        raise SyncUnavailable(f"{effective.configuration.name} does not sync {', '.join(not_synced)}")
    busy = _busy_objects(user, wanted)
    if busy and (len(busy) == len(wanted) or not send):
        raise ObjectsBusy(user, busy, reset=reset)
    free = [name for name in wanted if name not in {b.object for b in busy}]
    if reset:
        reset_links(user, free)
    trigger = SyncRun.Trigger.RESET if reset else SyncRun.Trigger.MANUAL
    runs = QueuedRuns([queue_run(user, name, trigger, actor=actor, full=True if reset else None) for name in free],
                      busy, reset=reset)
    what = "Reset" if reset else "Sync now"
    changes: dict = {"objects": free, "runs": [run.pk for run in runs]}
    if busy:
        changes["busy"] = [b.as_dict() for b in busy]
    record(AuditEntry.Action.USER_RESET if reset else AuditEntry.Action.USER_SYNC_REQUESTED, actor,
           summary=f"{what} for {user.username}: {', '.join(free)}"
                   + (f" ({', '.join(b.object for b in busy)} already under way)" if busy else ""),
           changes=changes, subject_user=user)
    if send:
        transaction.on_commit(lambda: enqueue_runs(runs))
    return runs


def test_connection(user: SyncUser, actor=None) -> dict:
    """Salesforce: a token as the user, and the object permissions the configuration needs. Exchange: the mailbox
    is reachable (by impersonation over EWS, or by the app over Graph, whichever serves it) and the contacts folder
    is there (when contacts sync). Answers {"salesforce": {"ok", "detail"}, "exchange": {"ok", "detail",
    "protocol"}}, within ``INTERACTIVE_SECONDS`` (half for each end), in our words with the ends' codes.

    Raises `ConnectionTestBusy` while another test of this user's connections is under way (the API's 409)."""
    busy = (f"A connection test for {user.username} is already under way: wait for its answer (at most "
            f"{INTERACTIVE_SECONDS:g} seconds), then test again.")
    with one_test_at_a_time(f"user-{user.pk}", busy):
        synced, folder = _synced_directions(user)
        result = {"salesforce": _test_salesforce(user, synced), "exchange": _test_exchange(user, synced, folder)}
    with transaction.atomic():
        verdict = ", ".join(f"{end} {'ok' if check['ok'] else 'failed'}" for end, check in result.items())
        record(AuditEntry.Action.USER_CONNECTION_TESTED, actor,
               summary=f"Tested {user.username}'s connections: {verdict}", changes=result, subject_user=user)
    return result


def _synced_directions(user: SyncUser) -> tuple[dict[str, str], str]:
    """The objects the user's configuration syncs, with their directions, and its contacts folder."""
    effective = effective_configuration(user)
    directions = dict(effective.configuration.data_settings.values_list("object", "direction")) if effective else {}
    synced = {name: d for name, d in directions.items() if d != Direction.NONE}
    folder = "Salesforce_Sync"
    if effective and "contacts" in synced:
        folder = effective.configuration.data_settings.get(object="contacts").folder or folder
    return synced, folder


def _test_salesforce(user: SyncUser, synced: dict[str, str]) -> dict:
    with interactive(INTERACTIVE_SECONDS / 2) as deadline:
        try:
            client = salesforce_client(user.username)
            who = client.user_info()
            details, missing = [f"Token obtained as {who.username}."], []
            for name, direction in synced.items():
                permissions = client.permissions(name)
                lacking = [p for p in required_permissions(direction) if not getattr(permissions, p)]
                missing += [f"{p} on {name}" for p in lacking]
        except Exception as exc:  # noqa: BLE001 - any failure is the answer to "does it work?"
            return {"ok": False, "detail": check_failure(exc, deadline)}
    if missing:
        details.append(f"Missing permissions: {', '.join(missing)}.")
    elif synced:
        details.append(f"Permissions are sufficient for {', '.join(sorted(synced))}.")
    return {"ok": not missing, "detail": " ".join(details)}


def _test_exchange(user: SyncUser, synced: dict[str, str], folder: str) -> dict:
    route = mailbox_route(user)
    with interactive(INTERACTIVE_SECONDS / 2) as deadline:
        try:
            mailbox = open_mailbox(user, route)
            check = mailbox.check(folder)
        except Exception as exc:  # noqa: BLE001
            return {"ok": False, "detail": check_failure(exc, deadline), "protocol": route.protocol}
    detail = f"Mailbox {check['mailbox']} reachable {mailbox.reached_how} ({route.detail})."
    ok = True
    if "contacts" in synced:
        if check["contacts_folder_present"]:
            detail += f" Contacts folder {folder!r} present."
        elif user.object_states.filter(object="contacts").exclude(state=SyncState.NOT_STARTED).exists():
            ok = False
            detail += f" Contacts folder {folder!r} is missing: recreate it or reset the contacts sync."
        else:
            detail += f" Contacts folder {folder!r} will be created by the first sync."
    return {"ok": ok, "detail": detail, "protocol": route.protocol}


def _known_zone(name: str | None) -> str:
    """Salesforce's TimeZoneSidKey as the synced user's zone; one zoneinfo does not know is UTC (blank)."""
    try:
        return normalize_time_zone(name)
    except ValidationError:
        return ""


@dataclass
class ImportResult:
    created: list[str]
    updated: list[str]
    deactivated: list[str]


@transaction.atomic
def import_users(actor=None) -> ImportResult:
    """Bring in Salesforce's active users (id, username, e-mail, name, profile) as synced users.

    New users are added, known ones (by Salesforce id) updated; synced users no longer active in Salesforce are
    deactivated (never deleted: their links and history stay). Nobody is assigned a configuration here.
    """
    remote = salesforce_client(integration_username()).list_active_users()
    known = {u.salesforce_id: u for u in SyncUser.objects.select_for_update()}
    created, updated, new_rows, reassessed = [], [], [], []
    for person in remote:
        values = {"username": person.username.lower(), "email": (person.email or person.username).lower(),
                  "name": person.name or "", "profile": person.profile or "", "active": True,
                  "time_zone": _known_zone(getattr(person, "time_zone", None))}
        existing = known.pop(person.id, None)
        if existing is None:
            new_rows.append(SyncUser(salesforce_id=person.id, **values))
            created.append(values["username"])
        elif any(getattr(existing, k) != v for k, v in values.items()):
            if (existing.profile, existing.active) != (values["profile"], values["active"]):
                reassessed.append(existing.pk)  # another profile's configuration, or active again
            for key, value in values.items():
                setattr(existing, key, value)
            existing.save()
            updated.append(values["username"])
    SyncUser.objects.bulk_create(new_rows)
    ensure_object_states(SyncUser.objects.filter(salesforce_id__in=[u.salesforce_id for u in new_rows]))
    gone = [u for u in known.values() if u.active]
    SyncUser.objects.filter(pk__in=[u.pk for u in gone]).update(active=False)
    refresh_object_states(reassessed + [u.pk for u in gone])
    record(AuditEntry.Action.USERS_IMPORTED, actor,
           summary=f"Imported users from Salesforce: {len(created)} new, {len(updated)} updated, "
                   f"{len(gone)} deactivated",
           changes={"created": created, "updated": updated, "deactivated": [u.username for u in gone]})
    return ImportResult(created, updated, [u.username for u in gone])
