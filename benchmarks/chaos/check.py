"""After the faults: let the deployment settle, then compare both ends of every user's objects with the ledger.

- **duplicates**: one ledger record found more than once on one end (each extra copy counts);
- **lost changes**: a live record missing on an end, or holding another value than the ledger's last one;
- **unpropagated deletes**: a deleted record still present on an end;
- **stuck objects**: a user's object not `in_sync` once settled, or a run still queued or running minutes after it
  was created;
- **unexpected records**: an item carrying a ledger-style key the ledger never made (reported, not expected).
"""

from __future__ import annotations

import time
from collections import defaultdict

from benchmarks.chaos import product
from benchmarks.chaos.deployment import Deployment
from benchmarks.chaos.ends import OBJECTS, Item
from benchmarks.chaos.ledger import SIDES, Ledger, Person, Record
from users.models import SyncState

STALE_RUN_SECONDS = 180


def settle(deployment: Deployment, ledger: Ledger, people: list[Person], timeout: float) -> tuple[bool, float]:
    """Wait until no run is queued or running, every object is in sync and has synced cleanly since its last edit
    (or `timeout`, or only objects needing a person are left and nothing moves for a minute)."""
    began = time.monotonic()
    idle_since = None
    reported = 0.0
    while time.monotonic() - began < timeout:
        ledger.resolve_pending(0)
        busy = product.busy_runs()
        states = {(s.user_id, s.object): s for s in product.states([p.sync_user_id for p in people])}
        unsettled = [(p, o) for p in people for o in OBJECTS
                     if (p.sync_user_id, o) not in states
                     or states[(p.sync_user_id, o)].state != SyncState.IN_SYNC
                     or not product.clean_since(p.sync_user_id, o, ledger.last_edit(p, o))]
        pending = ledger.counts()["pending"]
        if time.monotonic() - reported > 30:
            reported = time.monotonic()
            print(f"  settling: {busy} run(s) queued or running, {len(unsettled)} object(s) not yet clean since "
                  f"their last edit, {pending} edit(s) pending", flush=True)
        if busy == 0 and not unsettled and not pending and deployment.all_running():
            return True, time.monotonic() - began
        waiting_for_a_person = busy == 0 and unsettled and all(
            states.get((p.sync_user_id, o)) is not None
            and states[(p.sync_user_id, o)].state == SyncState.NEEDS_ATTENTION for p, o in unsettled)
        if waiting_for_a_person:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 60:
                break
        else:
            idle_since = None
        time.sleep(3)
    return False, time.monotonic() - began


IN_FLIGHT = (SyncState.SYNCING, SyncState.INITIAL_SYNC)


def _final_states(people: list[Person], patience: float = 120) -> list:
    """The users' object states once no run is in flight. The deployment keeps syncing on its schedule while both
    ends are read, so an object can be met in the middle of an ordinary run (`syncing`, its lease held): wait for
    such runs to end (a run that never ends is a stuck object all the same, and `stale_runs` names it)."""
    deadline = time.monotonic() + patience
    while True:
        states = product.states([p.sync_user_id for p in people])
        if not any(s.state in IN_FLIGHT and s.lease_owner for s in states) or time.monotonic() > deadline:
            return states
        time.sleep(2)


def _read(person: Person, side: str, object_type: str) -> list[Item] | None:
    for _ in range(5):
        try:
            return person.end(side).list(object_type)
        except Exception:  # noqa: BLE001 - try again: the faults are cleared, a slow answer may still fail
            time.sleep(3)
    return None


def _history(ledger: Ledger, record: Record) -> list[dict]:
    return [{"at_s": round(edit.at - ledger.started, 1), "side": edit.side, "op": edit.op, "value": edit.value}
            for edit in record.history[-5:]]


def compare(ledger: Ledger, people: list[Person]) -> dict:
    totals = {"duplicates": 0, "lost_changes": 0, "unpropagated_deletes": 0, "stuck_objects": 0,
              "unexpected_records": 0, "unchecked_records": 0}
    problems: list[dict] = []

    def problem(kind: str, person: Person, object_type: str, record: Record | None, **details) -> None:
        entry = {"problem": kind, "user": person.username, "object": object_type, **details}
        if record is not None:
            entry["key"] = record.key
            entry["expected"] = record.value if record.state == "alive" else "deleted"
            entry["history"] = _history(ledger, record)
            entry["runs"] = product.runs_around(person.sync_user_id, object_type, record.last_edit_at)
        problems.append(entry)

    for person in people:
        for object_type in OBJECTS:
            found: dict[str, dict[str, list[Item]]] = {}
            for side in SIDES:
                items = _read(person, side, object_type)
                if items is None:
                    problem("end_unreadable", person, object_type, None, end=side)
                    continue
                grouped = defaultdict(list)
                for item in items:
                    grouped[item.key].append(item)
                found[side] = grouped
            records = ledger.records[(person.index, object_type)]
            for record in records.values():
                if record.uncertain or record.pending or record.state == "unborn":
                    totals["unchecked_records"] += 1
                    continue
                for side, grouped in found.items():
                    copies = grouped.get(record.key, [])
                    values = [item.value for item in copies]
                    if record.state == "deleted":
                        if copies:
                            totals["unpropagated_deletes"] += 1
                            problem("unpropagated_delete", person, object_type, record, end=side, found=values)
                    elif not copies:
                        totals["lost_changes"] += 1
                        problem("lost_change", person, object_type, record, end=side, found="missing")
                    elif len(copies) > 1:
                        totals["duplicates"] += len(copies) - 1
                        problem("duplicate", person, object_type, record, end=side, found=values)
                    elif values[0] != record.value:
                        totals["lost_changes"] += 1
                        problem("lost_change", person, object_type, record, end=side, found=values)
            for side, grouped in found.items():
                for key, copies in grouped.items():
                    if key not in records:
                        totals["unexpected_records"] += len(copies)
                        problems.append({"problem": "unexpected_record", "user": person.username,
                                         "object": object_type, "end": side, "key": key,
                                         "found": [c.value for c in copies]})

    for state in _final_states(people):
        if state.state != SyncState.IN_SYNC or state.lease_owner:
            totals["stuck_objects"] += 1
            problems.append({"problem": "stuck_object", "user": state.user.username, "object": state.object,
                             "state": state.state, "error": state.last_error_code or None,
                             "message": state.last_error_message[:300] or None,
                             "consecutive_failures": state.consecutive_failures,
                             "lease_owner": state.lease_owner or None,
                             "runs": product.runs_around(state.user_id, state.object, time.time() - 600)})
    for run in product.stale_runs(STALE_RUN_SECONDS):
        totals["stuck_objects"] += 1
        problems.append({"problem": "stale_run", "user": run.user.username, "object": run.object, "run": run.pk,
                         "state": run.state, "created": run.created_at.strftime("%H:%M:%S"), "sends": run.sends})
    return {"totals": totals, "problems": problems}
