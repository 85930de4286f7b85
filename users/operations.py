"""What support, admins and integrations do to synced users: sync now, reset, test the connections, import users.

One function per operation, atomic and audited, called by the console, the API and the commands alike. Runs are
sent to the workers only after the transaction that queued them commits.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from users.models import SyncState, SyncUser
from users.services import effective_configuration, ensure_object_states


def sync_now(user: SyncUser, objects: list[str] | None = None, actor=None) -> list[SyncRun]:
    """Sync now some or all of the user's synced objects: a queued run each, sent to the workers after commit.

    Raises SyncUnavailable when the user has nothing to sync, or when one of the objects already has a run
    queued or running (its id is in the exception, for the API's 409); ValueError for an unknown object;
    QueueUnavailable when the task broker does not answer (then nothing is saved)."""
    return _queue_runs(user, objects, actor, reset=False)


def reset_sync(user: SyncUser, objects: list[str] | None = None, actor=None, *, send: bool = True) -> list[SyncRun]:
    """Forget the user's links and watermarks for the objects (no record is touched), then a full matching sync.

    Refused like `sync_now` while an object is busy: a run still working on it would otherwise commit links and
    advance watermarks after they were forgotten. `send=False` leaves the queued runs to the caller (the
    foreground `sync_user --reset` runs them itself)."""
    return _queue_runs(user, objects, actor, reset=True, send=send)


@transaction.atomic
def _queue_runs(user: SyncUser, objects: list[str] | None, actor, *, reset: bool, send: bool = True) -> list[SyncRun]:
    if send:
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
    busy = busy_runs().filter(user=user, object__in=wanted).order_by("-created_at").first()
    if busy is not None:
        raise SyncUnavailable(f"{user}'s {busy.object} sync is {busy.state} (run {busy.pk})", busy.pk)
    if reset:
        reset_links(user, wanted)
    trigger = SyncRun.Trigger.RESET if reset else SyncRun.Trigger.MANUAL
    runs = [queue_run(user, name, trigger, actor=actor, full=True if reset else None) for name in wanted]
    what = "Reset" if reset else "Sync now"
    record(AuditEntry.Action.USER_RESET if reset else AuditEntry.Action.USER_SYNC_REQUESTED, actor,
           summary=f"{what} for {user.username}: {', '.join(wanted)}",
           changes={"objects": wanted, "runs": [run.pk for run in runs]}, subject_user=user)
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
    created, updated, new_rows = [], [], []
    for person in remote:
        values = {"username": person.username.lower(), "email": (person.email or person.username).lower(),
                  "name": person.name or "", "profile": person.profile or "", "active": True}
        existing = known.pop(person.id, None)
        if existing is None:
            new_rows.append(SyncUser(salesforce_id=person.id, **values))
            created.append(values["username"])
        elif any(getattr(existing, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(existing, key, value)
            existing.save()
            updated.append(values["username"])
    SyncUser.objects.bulk_create(new_rows)
    ensure_object_states(SyncUser.objects.filter(salesforce_id__in=[u.salesforce_id for u in new_rows]))
    gone = [u for u in known.values() if u.active]
    SyncUser.objects.filter(pk__in=[u.pk for u in gone]).update(active=False)
    record(AuditEntry.Action.USERS_IMPORTED, actor,
           summary=f"Imported users from Salesforce: {len(created)} new, {len(updated)} updated, "
                   f"{len(gone)} deactivated",
           changes={"created": created, "updated": updated, "deactivated": [u.username for u in gone]})
    return ImportResult(created, updated, [u.username for u in gone])
