"""The faults, injected one at a time at random intervals while the ledger edits, each logged with its time.

Process faults: a worker SIGKILLed (with its pool) while it runs a sync, beat SIGKILLed, Redis killed for 30 s and
restarted empty, PostgreSQL stopped for 30 s (fast or immediate shutdown). Faults of the ends, through the
sandbox's fault and control APIs: Salesforce 503, REQUEST_LIMIT_EXCEEDED, expired sessions and 3 s latency; EWS
ErrorServerBusy or Graph 429 / 503 / expired tokens / expired delta links (by protocol); 3 s Exchange latency; a
user's sync folder deleted (the run then plays support staff: it waits for `needs_attention` and resets the user's
contacts, as docs/syncing.md says a person must).
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter

import requests

from benchmarks.chaos import product
from benchmarks.chaos.deployment import Deployment
from benchmarks.chaos.ends import http_session
from benchmarks.chaos.ledger import Ledger, Person
from sync.leases import SyncUnavailable
from sync.queue import QueueUnavailable
from syncadmin.celery import app
from users.models import SyncState, SyncUser
from users.operations import reset_sync, sync_now

COMMON = ("kill_worker", "kill_worker", "kill_beat", "redis_outage", "postgres_outage", "salesforce_503",
          "salesforce_request_limit", "salesforce_sessions_expired", "salesforce_latency", "exchange_latency",
          "sync_folder_deleted")
BY_PROTOCOL = {"ews": ("ews_server_busy",),
               "graph": ("graph_throttled", "graph_unavailable", "graph_tokens_expired", "graph_delta_expired")}
OUTAGE_SECONDS = 30


class Faults:
    def __init__(self, deployment: Deployment, ledger: Ledger, people: list[Person], protocol: str,
                 rng: random.Random, only: list[str] | None = None):
        self.deployment, self.ledger, self.people, self.protocol, self.rng = deployment, ledger, people, protocol, rng
        self.http: requests.Session = http_session(str(deployment.ca_path))
        self.log: list[dict] = []
        self.counts: Counter = Counter()
        self.started = time.monotonic()
        self.names = tuple(only) if only else COMMON + BY_PROTOCOL[protocol]
        unknown = [name for name in self.names if name not in COMMON + BY_PROTOCOL[protocol]]
        if unknown:
            raise ValueError(f"unknown fault(s) for {protocol}: {', '.join(unknown)}")
        self._deck: list[str] = []
        self._stop = threading.Event()

    @property
    def exchange(self) -> str:
        return self.deployment.graph_url if self.protocol == "graph" else self.deployment.exchange_url

    def _next(self) -> str:
        if not self._deck:
            self._deck = list(self.names)
            self.rng.shuffle(self._deck)
        return self._deck.pop()

    def run(self, stop: threading.Event, seconds: float) -> None:
        """Inject faults until `seconds` have passed (the fault in progress is finished and cleared first)."""
        self._stop = stop
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            if stop.wait(self.rng.uniform(10, 30)) or time.monotonic() > deadline - 20:
                break
            name = self._next()
            began = time.monotonic()
            self.ledger.faults_active.set()
            try:
                detail = getattr(self, name)()
            except Exception as exc:  # noqa: BLE001 - note it and go on with the next fault
                detail = f"could not inject: {type(exc).__name__}: {exc}"[:300]
            finally:
                self.clear()
                self.ledger.faults_active.clear()
            self.counts[name] += 1
            entry = {"at_s": round(began - self.started, 1), "fault": name,
                     "seconds": round(time.monotonic() - began, 1), "detail": detail}
            self.log.append(entry)
            print(f"  [{entry['at_s']:7.1f} s] {name} ({entry['seconds']} s): {detail}", flush=True)

    def clear(self) -> None:
        for url in (self.deployment.salesforce_url, self.deployment.exchange_url, self.deployment.graph_url):
            with contextlib.suppress(requests.RequestException):
                self.http.delete(f"{url}/_sandbox/faults", timeout=30)

    def _hold(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _fault(self, url: str, **fault) -> None:
        response = self.http.post(f"{url}/_sandbox/faults", json=fault, timeout=30)
        response.raise_for_status()

    # ---- processes -------------------------------------------------------------------------------------------
    def kill_worker(self) -> str:
        """SIGKILL a worker (and its pool) while it runs a sync. Exchange is slowed for the moment (1.5 s a
        request), as in tests/e2e/test_worker_killed.py, so that the runs last long enough to be caught mid-batch;
        waits up to 30 s for a worker with a run in hand."""
        self._fault(self.exchange, operation="*", status=200, latency_ms=1500, count=100000)
        deadline = time.monotonic() + 30
        victim, runs = None, []
        while time.monotonic() < deadline and victim is None:
            try:
                active = app.control.inspect(timeout=1.0).active() or {}
            except Exception:  # noqa: BLE001 - the broker may be down: try again
                active = {}
            for hostname, tasks in sorted(active.items()):
                runs = [task.get("args") for task in tasks if task.get("name") == "sync.tasks.sync_run"]
                if runs:
                    victim = hostname.split("@")[0]
                    break
            else:
                time.sleep(0.2)
        if victim is None:
            victim = self.rng.choice([name for name in self.deployment.managed if name != "beat"])
        down = self.rng.uniform(2, 8)
        pid = self.deployment.kill(victim, down)
        self._hold(down + 2)
        return f"{victim} (pid {pid}) killed while running runs {runs or 'none seen'}; restarted after {down:.0f} s"

    def kill_beat(self) -> str:
        down = self.rng.uniform(5, 20)
        pid = self.deployment.kill("beat", down)
        return f"beat (pid {pid}) killed; restarted after {down:.0f} s"

    def redis_outage(self) -> str:
        self.deployment.redis.kill()
        self._hold(OUTAGE_SECONDS)
        self.deployment.redis.start()
        return f"redis-server killed, restarted empty after {OUTAGE_SECONDS} s"

    def postgres_outage(self) -> str:
        mode = self.rng.choice(["fast", "immediate"])
        self.deployment.postgres.stop(mode)
        self._hold(OUTAGE_SECONDS)
        self.deployment.postgres.start()
        return f"PostgreSQL stopped ({mode} shutdown) for {OUTAGE_SECONDS} s"

    # ---- Salesforce -------------------------------------------------------------------------------------------
    def salesforce_503(self) -> str:
        seconds = self.rng.uniform(30, 60)
        self._fault(self.deployment.salesforce_url, operation="*", status=503, error_code="SERVER_UNAVAILABLE",
                    count=None)
        self._hold(seconds)
        return f"every Salesforce request answered 503 SERVER_UNAVAILABLE for {seconds:.0f} s"

    def salesforce_request_limit(self) -> str:
        """The org's allocation used up for a while. The product then waits the hour Salesforce's answer implies
        (docs/connector-salesforce.md): once the fault is cleared, the run plays support staff and presses Sync now
        for every object that said so, as a person would once the allocation is back."""
        seconds = self.rng.uniform(30, 60)
        self._fault(self.deployment.salesforce_url, operation="/services/data", status=403,
                    error_code="REQUEST_LIMIT_EXCEEDED", count=None)
        self._hold(seconds)
        self.clear()
        self._hold(5)
        pressed = self._sync_now_after("REQUEST_LIMIT_EXCEEDED")
        return f"every Salesforce REST request answered 403 REQUEST_LIMIT_EXCEEDED for {seconds:.0f} s; " \
               f"then Sync now for {pressed} object(s) waiting an hour for the allocation"

    def _sync_now_after(self, error_code: str) -> int:
        pressed = 0
        for person in self.people:
            objects = [o for o in ("contacts", "events", "tasks")
                       if (state := product.object_state(person.sync_user_id, o)) is not None
                       and state.state == SyncState.ERROR and state.last_error_code == error_code]
            if not objects:
                continue
            try:
                sync_now(SyncUser.objects.get(pk=person.sync_user_id), objects)
                pressed += len(objects)
            except (SyncUnavailable, QueueUnavailable, product.DatabaseError) as exc:
                product.connection.close()
                self.ledger.observe("sync_now_refused", user=person.username, objects=objects, error=str(exc)[:200])
        return pressed

    def salesforce_sessions_expired(self) -> str:
        expired = self.http.post(f"{self.deployment.salesforce_url}/_sandbox/sessions/expire", json={},
                                 timeout=30).json().get("expired")
        self._fault(self.deployment.salesforce_url, operation="/services/data", status=401,
                    error_code="INVALID_SESSION_ID", count=10)
        self._hold(20)
        return f"every Salesforce session revoked ({expired}), then the next 10 requests' sessions expired"

    def salesforce_latency(self) -> str:
        seconds = self.rng.uniform(30, 60)
        self._fault(self.deployment.salesforce_url, operation="*", latency_ms=3000, count=None)
        self._hold(seconds)
        return f"every Salesforce request delayed 3 s for {seconds:.0f} s"

    # ---- Exchange ----------------------------------------------------------------------------------------------
    def exchange_latency(self) -> str:
        seconds = self.rng.uniform(30, 60)
        self._fault(self.exchange, operation="*", status=200, latency_ms=3000, count=100000)
        self._hold(seconds)
        return f"every {self.protocol.upper()} request delayed 3 s for {seconds:.0f} s"

    def ews_server_busy(self) -> str:
        seconds = self.rng.uniform(30, 60)
        self._fault(self.deployment.exchange_url, operation="*", status=500, error_code="ErrorServerBusy",
                    back_off_ms=5000, count=100000)
        self._hold(seconds)
        return f"every EWS request answered ErrorServerBusy (back off 5 s) for {seconds:.0f} s"

    def graph_throttled(self) -> str:
        seconds = self.rng.uniform(30, 60)
        self._fault(self.deployment.graph_url, operation="*", status=429, retry_after=5, count=100000)
        self._hold(seconds)
        return f"every Graph request answered 429 (Retry-After 5) for {seconds:.0f} s"

    def graph_unavailable(self) -> str:
        seconds = self.rng.uniform(30, 60)
        self._fault(self.deployment.graph_url, operation="*", status=503, count=100000)
        self._hold(seconds)
        return f"every Graph request answered 503 for {seconds:.0f} s"

    def graph_tokens_expired(self) -> str:
        self.http.post(f"{self.deployment.graph_url}/_sandbox/tokens/expire", json={}, timeout=30).raise_for_status()
        self._hold(5)
        return "every Graph access token issued so far expired"

    def graph_delta_expired(self) -> str:
        self.http.post(f"{self.deployment.graph_url}/_sandbox/delta/expire", json={}, timeout=30).raise_for_status()
        self._hold(5)
        return "every Graph delta link expired (410 on next use)"

    # ---- a user's sync folder ----------------------------------------------------------------------------------
    def sync_folder_deleted(self) -> str:
        """Delete one user's contacts sync folder once their Outlook edits have synced; wait for the product to
        say `needs_attention`, reset the user's contacts as support staff would, and wait for the reset's run."""
        candidates = [p for p in self.people if (p.index, "contacts") not in self.ledger.frozen]
        person = self.rng.choice(candidates)
        self.ledger.freeze(person, "contacts")
        try:
            return self._folder_deleted(person)
        finally:
            self.ledger.forget_ids(person, "contacts", "outlook")
            self.ledger.thaw(person, "contacts")

    def _folder_deleted(self, person: Person) -> str:
        user = person.username
        deadline = time.monotonic() + 180
        while True:  # every Outlook-side contact edit has reached Salesforce
            last = self.ledger.last_outlook_edit(person, "contacts")
            if last is not None and product.clean_since(person.sync_user_id, "contacts", last):
                break
            if time.monotonic() > deadline or self._stop.is_set():
                return f"{user}: skipped (their Outlook contact edits did not sync within 180 s)"
            time.sleep(2)
        person.outlook.delete_sync_folder()
        deleted = time.monotonic()
        while True:
            state = product.object_state(person.sync_user_id, "contacts")
            if state is not None and state.state == SyncState.NEEDS_ATTENTION:
                noticed = f"needs_attention ({state.last_error_code}) after {time.monotonic() - deleted:.0f} s"
                break
            if time.monotonic() - deleted > 240:
                self.ledger.observe("folder_deletion_not_noticed", user=user,
                                    state=state.state if state else None)
                noticed = "not noticed within 240 s"
                break
            time.sleep(2)
        reset_at, last_error = None, None
        while time.monotonic() - deleted < 600:
            try:
                reset_sync(SyncUser.objects.get(pk=person.sync_user_id), ["contacts"])
                reset_at = time.time()
                break
            except (SyncUnavailable, QueueUnavailable, product.DatabaseError) as exc:
                product.connection.close()
                last_error = exc
                time.sleep(3)
        if reset_at is None:
            self.ledger.observe("reset_refused", user=user, error=str(last_error)[:300])
            return f"{user}: folder deleted, {noticed}; the reset was refused: {last_error}"
        while time.monotonic() - deleted < 600:
            if product.clean_since(person.sync_user_id, "contacts", reset_at):
                return f"{user}: folder deleted, {noticed}; reset; clean again after " \
                       f"{time.monotonic() - deleted:.0f} s"
            time.sleep(2)
        self.ledger.observe("reset_not_clean", user=user)
        return f"{user}: folder deleted, {noticed}; reset, but no clean run within 600 s"
