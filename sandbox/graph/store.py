"""The Graph emulator's mailboxes: contact folders, contacts, events, To Do lists and tasks, and delta states.

Records keep their Graph properties as plain JSON. One JSON file per mailbox under ``<data_dir>/mailboxes/`` is
rewritten atomically after each request that changed it; ``meta.json`` keeps the reset epoch. One re-entrant lock
serialises every change.
"""

import hashlib
import json
import logging
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sandbox.graph.ids import make_id

log = logging.getLogger(__name__)

MAX_DELTA_STATES = 400  # per mailbox; the oldest are forgotten first, as Exchange Online's token cache does
COLLECTIONS = ("contact_folders", "contacts", "events", "todo_lists", "tasks")


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "0000Z"


class Store:
    def __init__(self, data_dir: Path):
        self.dir = Path(data_dir)
        (self.dir / "mailboxes").mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.epoch = 0
        self.mailboxes: dict[str, dict] = {}
        self.dirty: set[str] = set()
        # Called under the lock with the mailboxes about to be written: every change of every route passes here.
        self.on_flush = None
        self._load()

    # ---- persistence -------------------------------------------------------------------------------------------
    def _file(self, upn: str) -> Path:
        return self.dir / "mailboxes" / (hashlib.sha256(upn.encode()).hexdigest()[:16] + ".json")

    def _load(self) -> None:
        meta = self.dir / "meta.json"
        if meta.exists():
            self.epoch = json.loads(meta.read_text())["epoch"]
        for path in sorted((self.dir / "mailboxes").glob("*.json")):
            mb = json.loads(path.read_text(encoding="utf-8"))
            self.mailboxes[mb["upn"]] = mb

    def flush(self) -> None:
        with self.lock:
            if not self.dirty:
                return
            if self.on_flush is not None:
                try:
                    self.on_flush(set(self.dirty))
                except Exception:  # a notification problem must not fail the change itself
                    log.exception("The Graph emulator could not queue change notifications.")
            for upn in sorted(self.dirty):
                mb = self.mailboxes.get(upn)
                if mb is None:
                    self._file(upn).unlink(missing_ok=True)
                else:
                    atomic_write(self._file(upn), json.dumps(mb, ensure_ascii=False))
            atomic_write(self.dir / "meta.json", json.dumps({"epoch": self.epoch}))
            self.dirty.clear()

    def wipe(self) -> None:
        with self.lock:
            self.dirty |= set(self.mailboxes)
            self.mailboxes.clear()
            self.epoch += 1
            self.flush()
            atomic_write(self.dir / "meta.json", json.dumps({"epoch": self.epoch}))

    def touch(self, mb: dict) -> None:
        self.dirty.add(mb["upn"])

    # ---- mailboxes ---------------------------------------------------------------------------------------------
    def create_mailbox(self, upn: str, display_name: str) -> dict:
        upn = upn.lower()
        with self.lock:
            mb = self.mailboxes.get(upn)
            if mb is not None:
                mb["display_name"] = display_name
                self.touch(mb)
                return mb
            mb = {"upn": upn, "display_name": display_name,
                  "user_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sandbox-user:{upn}")),
                  "seq": (self.epoch << 32) + 100, "delta_states": {}, **{c: {} for c in COLLECTIONS}}
            self.mailboxes[upn] = mb
            folder = self.new_record(mb, "contact_folders", "F", {"displayName": "Contacts"})
            folder.update(parent=make_id(upn, "R", 1), default=True)
            todo = self.new_record(mb, "todo_lists", "L", {"displayName": "Tasks", "isOwner": True,
                                                            "isShared": False, "wellknownListName": "defaultList"})
            todo["default"] = True
            self.touch(mb)
            return mb

    def mailbox(self, key: str) -> dict | None:
        """By user principal name (case-insensitive) or by the user's object id."""
        key = (key or "").lower()
        mb = self.mailboxes.get(key)
        if mb is None:
            mb = next((m for m in self.mailboxes.values() if m["user_id"] == key), None)
        return mb

    # ---- records -----------------------------------------------------------------------------------------------
    def next_seq(self, mb: dict) -> int:
        mb["seq"] += 1
        return mb["seq"]

    def new_record(self, mb: dict, collection: str, kind: str, props: dict, **extra) -> dict:
        seq = self.next_seq(mb)
        ts = now_iso()
        rec = {"id": make_id(mb["upn"], kind, seq), "seq": seq, "version": 1, "created": ts, "modified": ts,
               "props": props, "ext": {}, **extra}
        mb[collection][rec["id"]] = rec
        self.touch(mb)
        return rec

    def changed(self, mb: dict, rec: dict) -> None:
        rec["version"] += 1
        rec["modified"] = now_iso()
        self.touch(mb)

    # ---- delta states ------------------------------------------------------------------------------------------
    def save_delta_state(self, mb: dict, state: dict) -> str:
        token = uuid.uuid4().hex
        states = mb["delta_states"]
        states[token] = state
        while len(states) > MAX_DELTA_STATES:
            states.pop(next(iter(states)))
        self.touch(mb)
        return token

    def forget_delta_states(self) -> int:
        with self.lock:
            count = 0
            for mb in self.mailboxes.values():
                count += len(mb["delta_states"])
                mb["delta_states"] = {}
                self.touch(mb)
            self.flush()
            return count


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
