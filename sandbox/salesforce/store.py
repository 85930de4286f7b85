"""Persistent state: every record in memory for speed, written through to SQLite so it survives a restart.

One lock guards memory and database; every public operation takes it, so the threaded server is safe.
Tables: ``records`` (id, sobject, JSON body), ``kv`` (settings, counters, org id, connected apps) and
``sessions`` (access tokens).
"""

import json
import sqlite3
import threading
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, sobject TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (token TEXT PRIMARY KEY, user_id TEXT NOT NULL, expires REAL NOT NULL);
"""


class Store:
    def __init__(self, path: Path):
        self.lock = threading.RLock()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self.records: dict[str, dict] = {}
        self.by_type: dict[str, dict[str, dict]] = {}
        self.kv: dict[str, object] = {}
        self.sessions: dict[str, tuple[str, float]] = {}
        self._load()

    def _load(self) -> None:
        with self.lock:
            for _record_id, sobject, body in self.db.execute("SELECT id, sobject, body FROM records"):
                self._remember(sobject, json.loads(body))
            for key, value in self.db.execute("SELECT key, value FROM kv"):
                self.kv[key] = json.loads(value)
            for token, user_id, expires in self.db.execute("SELECT token, user_id, expires FROM sessions"):
                self.sessions[token] = (user_id, expires)

    def _remember(self, sobject: str, record: dict) -> None:
        self.records[record["Id"]] = record
        self.by_type.setdefault(sobject, {})[record["Id"]] = record

    # -- records ---------------------------------------------------------------------------------
    def get(self, record_id: str) -> dict | None:
        return self.records.get(record_id)

    def of_type(self, sobject: str) -> list[dict]:
        with self.lock:  # a snapshot: writers may add to the dict from other threads
            return list(self.by_type.get(sobject, {}).values())

    def save(self, records: list[tuple[str, dict]]) -> None:
        """Insert or replace records (``(sobject, record)`` pairs) in memory and on disk, atomically."""
        with self.lock:
            self.db.execute("BEGIN")
            try:
                self.db.executemany(
                    "INSERT OR REPLACE INTO records (id, sobject, body) VALUES (?, ?, ?)",
                    [(record["Id"], sobject, json.dumps(record)) for sobject, record in records],
                )
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            for sobject, record in records:
                self._remember(sobject, record)

    def restore(self, before: dict[str, dict]) -> None:
        """Put the records back as `before` (a copy of `records` taken earlier) holds them: records changed since
        are saved again, records added since are removed (a Composite request with ``allOrNone`` that failed)."""
        with self.lock:
            type_of = {record_id: sobject for sobject, records in self.by_type.items() for record_id in records}
            changed = [(type_of[record_id], record) for record_id, record in before.items()
                       if self.records.get(record_id) is not record]
            added = [record_id for record_id in self.records if record_id not in before]
            self.db.execute("BEGIN")
            try:
                self.db.executemany("DELETE FROM records WHERE id = ?", [(record_id,) for record_id in added])
                self.db.executemany(
                    "INSERT OR REPLACE INTO records (id, sobject, body) VALUES (?, ?, ?)",
                    [(record["Id"], sobject, json.dumps(record)) for sobject, record in changed])
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            for record_id in added:
                del self.records[record_id]
                self.by_type[type_of[record_id]].pop(record_id, None)
            for sobject, record in changed:
                self._remember(sobject, record)

    # -- key/value -------------------------------------------------------------------------------
    def get_kv(self, key: str, default=None):
        return self.kv.get(key, default)

    def set_kv(self, key: str, value) -> None:
        with self.lock:
            self.kv[key] = value
            self.db.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    # -- sessions --------------------------------------------------------------------------------
    def add_session(self, token: str, user_id: str, expires: float) -> None:
        with self.lock:
            self.sessions[token] = (user_id, expires)
            self.db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)", (token, user_id, expires))

    def drop_sessions(self, tokens: list[str]) -> None:
        with self.lock:
            for token in tokens:
                self.sessions.pop(token, None)
            self.db.executemany("DELETE FROM sessions WHERE token = ?", [(t,) for t in tokens])

    # -- wipe ------------------------------------------------------------------------------------
    def wipe(self, keep_kv: tuple[str, ...] = ()) -> None:
        with self.lock:
            kept = {key: self.kv[key] for key in keep_kv if key in self.kv}
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM records")
            self.db.execute("DELETE FROM kv")
            self.db.execute("DELETE FROM sessions")
            self.db.execute("COMMIT")
            self.records.clear()
            self.by_type.clear()
            self.kv.clear()
            self.sessions.clear()
            for key, value in kept.items():
                self.set_kv(key, value)

    def close(self) -> None:
        with self.lock:
            self.db.close()
