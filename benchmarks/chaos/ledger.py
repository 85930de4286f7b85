"""The ledger: random creates, updates and deletes on both ends of every user's contacts, events and tasks, each
recorded with the state it intends, so that both ends can be checked against it afterwards.

Which edits the ledger makes, so that it always knows the intended final state:

- A record is edited on the end its last edit was made on, or on the other end once a clean run of its user's
  object (succeeded, no record error) started after that edit: the edit has then been read and propagated, and
  the next edit cannot race it.
- A **conflict** edits one record on both ends at once (update/update, Salesforce update + Outlook delete,
  Salesforce delete + Outlook update), only while its object is quiet (in sync, no run queued or running, none due
  for 30 s) and no fault is active, so that both edits fall into the same run; the configuration's conflict
  behaviour, `salesforce_wins`, decides: Salesforce's update stands everywhere (re-created in Outlook if Outlook
  deleted it), Salesforce's delete stands everywhere.
- An edit that fails (faults hit the ledger's own calls as well) is checked by reading the end again: applied,
  not applied, or, when the end cannot be read either, pending until it can. The record is not edited meanwhile.
- While a user's sync folder is deleted on purpose (a fault), no Outlook-side contact edit is made for that user.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from benchmarks.chaos import product
from benchmarks.chaos.ends import OBJECTS, OutlookEnd, SalesforceEnd

SIDES = ("salesforce", "outlook")
PREFIX = {"contacts": "C", "events": "E", "tasks": "T"}
CONFLICT_QUIET_SECONDS = 30


@dataclass
class Person:
    index: int
    sync_user_id: int
    username: str
    salesforce: SalesforceEnd
    outlook: OutlookEnd

    def end(self, side: str) -> SalesforceEnd | OutlookEnd:
        return self.salesforce if side == "salesforce" else self.outlook


@dataclass
class Edit:
    at: float
    side: str
    op: str
    value: str | None


@dataclass
class Attempt:
    at: float
    side: str
    op: str
    value: str | None


@dataclass
class Record:
    user: int
    object: str
    key: str
    start: datetime  # events: when it takes place
    value: str | None = None
    state: str = "unborn"  # unborn (a create not known to have happened), alive, deleted
    last_side: str = ""
    last_edit_at: float = 0.0
    pending: Attempt | None = None
    uncertain: bool = False  # a conflict whose outcome could not be read back: left out of the check
    history: list[Edit] = field(default_factory=list)

    def apply(self, op: str, side: str, value: str | None, at: float) -> None:
        if op == "create":
            self.state, self.value = "alive", value
        elif op == "update":
            self.value = value
        elif op == "delete":
            self.state = "deleted"
        self.last_side, self.last_edit_at = side, at
        self.history.append(Edit(at, side, op, value))


class Ledger:
    def __init__(self, people: list[Person], rng: random.Random, edits_per_minute: float):
        self.people = people
        self.rng = rng
        self.interval = 60.0 / edits_per_minute
        self.records: dict[tuple[int, str], dict[str, Record]] = {
            (p.index, o): {} for p in people for o in OBJECTS}
        self.ids: dict[tuple[int, str, str], dict[str, str]] = {}
        self.frozen: set[tuple[int, str]] = set()
        self.faults_active = threading.Event()
        self.op_lock = threading.Lock()  # held for each edit: freezing waits for the edit in flight
        self.lock = threading.RLock()
        self.stats: Counter = Counter()
        self.observations: list[dict] = []
        self._numbers: Counter = Counter()
        self._version = 0
        self.started = time.time()

    # ---- helpers ---------------------------------------------------------------------------------------------
    def _value(self) -> str:
        self._version += 1
        return f"v{self._version}"

    def _new_record(self, person: Person, object_type: str) -> Record:
        self._numbers[(person.index, object_type)] += 1
        key = f"{PREFIX[object_type]}-u{person.index:02d}-{self._numbers[(person.index, object_type)]:04d}"
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today + timedelta(days=self.rng.randint(1, 40), hours=self.rng.randint(7, 18))
        record = Record(person.index, object_type, key, start)
        self.records[(person.index, object_type)][key] = record
        return record

    def _id(self, person: Person, object_type: str, side: str, key: str, refresh: bool = False) -> str | None:
        if refresh or key not in self.ids.get((person.index, object_type, side), {}):
            self._remember(person, object_type, side, person.end(side).list(object_type))
        return self.ids[(person.index, object_type, side)].get(key)

    def _remember(self, person: Person, object_type: str, side: str, items) -> None:
        self.ids[(person.index, object_type, side)] = {item.key: item.id for item in items}

    def forget_ids(self, person: Person, object_type: str, side: str) -> None:
        self.ids.pop((person.index, object_type, side), None)

    def observe(self, what: str, **details) -> None:
        with self.lock:
            self.observations.append({"observed": what, "at_s": round(time.time() - self.started, 1), **details})

    def freeze(self, person: Person, object_type: str) -> None:
        with self.op_lock:
            self.frozen.add((person.index, object_type))

    def thaw(self, person: Person, object_type: str) -> None:
        self.frozen.discard((person.index, object_type))

    def last_outlook_edit(self, person: Person, object_type: str) -> float | None:
        """When the newest Outlook-side (or both-sides) edit of the user's object was made; None if an edit's
        outcome is still pending."""
        with self.lock:
            records = list(self.records[(person.index, object_type)].values())
        if any(r.pending for r in records):
            return None
        return max([r.last_edit_at for r in records if r.last_side in ("outlook", "both")], default=0.0)

    def last_edit(self, person: Person, object_type: str) -> float:
        with self.lock:
            return max([r.last_edit_at for r in self.records[(person.index, object_type)].values()], default=0.0)

    # ---- one edit, and what a failed one did -----------------------------------------------------------------
    def _attempt(self, person: Person, record: Record, side: str, op: str, value: str | None) -> str:
        """Make one edit on one end; answer applied, not_applied or pending (recorded on the record)."""
        end = person.end(side)
        self.stats[f"{op}:{side}"] += 1
        try:
            if op == "create":
                new_id = end.create(record.object, record.key, value, record.start)
                self.ids.setdefault((person.index, record.object, side), {})[record.key] = new_id
            else:
                item_id = self._id(person, record.object, side, record.key)
                if item_id is None:
                    self.observe("missing_before_edit", user=person.username, object=record.object, key=record.key,
                                 end=side, op=op, last_edit=record.last_side,
                                 last_edit_age_s=round(time.time() - record.last_edit_at, 1))
                    self.stats["skipped"] += 1
                    return "not_applied"
                if op == "update":
                    end.update(record.object, item_id, record.key, value)
                else:
                    end.delete(record.object, item_id)
        except Exception as exc:  # noqa: BLE001 - any failure: read the end to learn what happened
            self.stats["edit_failed"] += 1
            self.stats[f"edit_failed:{type(exc).__name__}"] += 1
            outcome = self._verify(person, record, Attempt(time.time(), side, op, value))
            self.stats[f"edit_failed:{outcome}"] += 1
        else:
            outcome = "applied"
        if outcome == "applied":
            with self.lock:
                record.apply(op, side, value, time.time())
        return outcome

    def _verify(self, person: Person, record: Record, attempt: Attempt) -> str:
        try:
            items = person.end(attempt.side).list(record.object)
        except Exception:  # noqa: BLE001 - the end is still failing: find out later
            with self.lock:
                record.pending = attempt
            return "pending"
        self._remember(person, record.object, attempt.side, items)
        found = [item for item in items if item.key == record.key]
        record.pending = None
        if attempt.op == "create":
            return "applied" if found else "not_applied"
        if attempt.op == "delete":
            return "not_applied" if found else "applied"
        return "applied" if any(item.value == attempt.value for item in found) else "not_applied"

    def resolve_pending(self, older_than: float = 3.0) -> None:
        with self.lock:
            waiting = [r for records in self.records.values() for r in records.values()
                       if r.pending and time.time() - r.pending.at > older_than]
        for record in waiting:
            attempt = record.pending
            person = self.people[record.user]
            outcome = self._verify(person, record, attempt)
            if outcome == "applied":
                with self.lock:
                    record.apply(attempt.op, attempt.side, attempt.value, time.time())
            elif outcome == "not_applied" and record.state == "unborn":
                with self.lock:
                    del self.records[(record.user, record.object)][record.key]
            self.stats[f"pending_{outcome}"] += 1

    # ---- choosing edits --------------------------------------------------------------------------------------
    def _editable(self, person: Person, object_type: str, side: str) -> list[Record]:
        clean = product.last_clean_start(person.sync_user_id, object_type)
        with self.lock:
            return [r for r in self.records[(person.index, object_type)].values()
                    if r.state == "alive" and not r.pending and not r.uncertain
                    and (r.last_side == side or (clean is not None and r.last_edit_at < clean))]

    def step(self) -> None:
        """One random edit (the edit loop calls it about `edits_per_minute` times a minute)."""
        person = self.rng.choice(self.people)
        object_type = self.rng.choice(OBJECTS)
        side = self.rng.choice(SIDES)
        if (person.index, object_type) in self.frozen:
            side = "salesforce"
        with self.lock:
            alive = sum(1 for r in self.records[(person.index, object_type)].values() if r.state == "alive")
        weights = {"create": 25 if alive < 12 else 5, "update": 45, "delete": 15 if alive > 3 else 2,
                   "conflict": 15}
        op = self.rng.choices(list(weights), list(weights.values()))[0]
        with self.op_lock:
            if (person.index, object_type) in self.frozen and side == "outlook":
                return
            if op == "conflict":
                if self._conflict(person, object_type):
                    return
                op = "update"
            if op == "create":
                record = self._new_record(person, object_type)
                if self._attempt(person, record, side, "create", self._value()) == "not_applied":
                    with self.lock:
                        del self.records[(person.index, object_type)][record.key]
                return
            candidates = self._editable(person, object_type, side)
            if not candidates:
                self.stats["no_candidate"] += 1
                return
            record = self.rng.choice(candidates)
            self._attempt(person, record, side, op, self._value() if op == "update" else None)

    def _conflict(self, person: Person, object_type: str) -> bool:
        if self.faults_active.is_set() or (person.index, object_type) in self.frozen:
            return False
        clean = product.last_clean_start(person.sync_user_id, object_type)
        if clean is None or not product.quiet(person.sync_user_id, object_type, CONFLICT_QUIET_SECONDS):
            return False
        with self.lock:
            candidates = [r for r in self.records[(person.index, object_type)].values()
                          if r.state == "alive" and not r.pending and not r.uncertain and r.last_edit_at < clean]
        if not candidates:
            return False
        record = self.rng.choice(candidates)
        kind = self.rng.choice(["update/update", "update/delete", "delete/update"])
        sf_op, outlook_op = kind.split("/")
        sf_value = self._value() if sf_op == "update" else None
        outlook_value = self._value() if outlook_op == "update" else None
        self.stats[f"conflict:{kind}"] += 1
        outcomes = []
        for side, op, value in (("salesforce", sf_op, sf_value), ("outlook", outlook_op, outlook_value)):
            try:
                item_id = self._id(person, object_type, side, record.key)
                if item_id is None:
                    outcomes.append("missing")
                    continue
                end = person.end(side)
                if op == "update":
                    end.update(object_type, item_id, record.key, value)
                else:
                    end.delete(object_type, item_id)
                outcomes.append("applied")
            except Exception:  # noqa: BLE001 - read back below
                outcomes.append("failed")
        done = time.time()
        with self.lock:
            if outcomes == ["applied", "applied"]:
                # salesforce_wins: Salesforce's edit stands on both ends.
                record.apply(sf_op, "both", sf_value, done)
                record.history[-1].op = f"conflict {kind}"
                if outlook_op == "delete":
                    self.forget_ids(person, object_type, "outlook")
            else:
                record.uncertain = True
                self.observe("conflict_not_made", user=person.username, object=object_type, key=record.key,
                             conflict=kind, outcomes=outcomes)
        return True

    # ---- seeding and the loop --------------------------------------------------------------------------------
    def seed(self, per_side: int) -> None:
        """Records on both ends of every user's objects before the first sync (no fault is active yet)."""
        for person in self.people:
            for object_type in OBJECTS:
                for side in SIDES:
                    for _ in range(per_side):
                        record = self._new_record(person, object_type)
                        if self._attempt(person, record, side, "create", self._value()) != "applied":
                            raise RuntimeError(f"could not seed {record.key} on {side}")

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            began = time.monotonic()
            try:
                self.resolve_pending()
                self.step()
            except Exception as exc:  # noqa: BLE001 - the loop carries on; the check finds what went wrong
                self.stats["loop_error"] += 1
                self.observe("edit_loop_error", error=f"{type(exc).__name__}: {exc}"[:300])
            stop.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def counts(self) -> dict:
        with self.lock:
            records = [r for records in self.records.values() for r in records.values()]
        last = max([r.last_edit_at for r in records], default=self.started)
        return {"records": len(records), "last_edit_at_s": round(last - self.started, 1),
                "alive": sum(r.state == "alive" for r in records),
                "deleted": sum(r.state == "deleted" for r in records),
                "pending": sum(bool(r.pending) for r in records),
                "uncertain": sum(r.uncertain for r in records)}
