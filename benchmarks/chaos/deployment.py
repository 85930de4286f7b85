"""The production-style deployment the chaos run starts and owns: a private PostgreSQL cluster and Redis server on
free ports, the sandbox's emulators in a process of their own, two Celery workers and beat, each in a session of
its own so that a fault can SIGKILL it with its children, and a supervisor that restarts whatever dies (as Docker's
restart policy or systemd would), noting every exit it did not cause.

Nothing here touches the machine's own PostgreSQL or Redis. `Deployment.close()` stops every process it started
and removes its directories.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
WORKER_QUEUES = "sync,initial,default"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not start listening on port {port} within {timeout:.0f} s")


def tail(path: Path, chars: int = 3000) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - chars))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _stop(process: subprocess.Popen | None, timeout: float = 15) -> None:
    """SIGTERM the process's session, then SIGKILL what is left after `timeout`."""
    if process is None:
        return
    if process.poll() is None:
        _kill_group(process, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    _kill_group(process, signal.SIGKILL)  # children of a process that already exited, too
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


class Postgres:
    """A throwaway PostgreSQL 15 cluster: initdb into a temporary directory, trust authentication, a free port.

    As root, initdb and pg_ctl run as the `postgres` system user (initdb refuses root)."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.data = directory / "data"
        self.log = directory / "postgres.log"
        self.port = free_port()
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/chaos"

    def _run(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*self._as, *arguments], capture_output=True, text=True, check=check, timeout=120)

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._as:
            shutil.chown(self.directory, "postgres", "postgres")
            self.directory.chmod(0o700)
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")
        self.start()
        self._run(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "chaos")

    def start(self) -> None:
        # fsync off: only processes crash here, never the machine, and the shared machine's disk is spared.
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off " \
                  f"-c max_connections=200"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t",
                  "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def running(self) -> bool:
        return self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status", check=False).returncode == 0

    def close(self) -> None:
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


class Redis:
    """A redis-server of our own that keeps nothing on disk: a restart comes back empty, as the machine's does."""

    def __init__(self, log_path: Path):
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; install it (apt-get install redis-server)")
        log = open(self.log_path, "a")  # noqa: SIM115 - the process owns it
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_for_port(self.port, 15, "redis-server")

    def kill(self) -> None:
        if self.process is not None:
            _kill_group(self.process)
            self.process.wait()
            self.process = None

    def close(self) -> None:
        _stop(self.process, timeout=5)
        self.process = None


@dataclass
class Managed:
    """One supervised product process: how to start it, the running one, and whether it is meant to be down."""

    name: str
    arguments: list[str]
    log_path: Path
    process: subprocess.Popen | None = None
    down_until: float = 0.0  # a fault took it down on purpose: restart it after this moment
    starts: int = 0
    unexpected_exits: list[dict] = field(default_factory=list)


class Deployment:
    def __init__(self, work: Path, protocol: str, env: dict[str, str]):
        self.work = work
        self.protocol = protocol
        self.logs = work / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.postgres = Postgres(Path(tempfile.mkdtemp(prefix="chaos-pg-")))
        self.redis = Redis(self.logs / "redis.log")
        self.env = dict(env)
        self.sandbox_process: subprocess.Popen | None = None
        self.sandbox_dir = work / "sandbox"
        self.ports = {"salesforce": free_port(), "exchange": free_port(), "graph": free_port()}
        self.managed: dict[str, Managed] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.started_at = time.monotonic()

    # ---- services ------------------------------------------------------------------------------------------
    def start_services(self) -> None:
        self.postgres.init()
        self.redis.start()
        self.env.update({"DATABASE_URL": self.postgres.url, "REDIS_URL": self.redis.url})

    def child_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def migrate(self) -> None:
        subprocess.run([sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=self.child_env(),
                       check=True, timeout=600)

    def start_sandbox(self) -> None:
        log = open(self.logs / "sandbox.log", "a")  # noqa: SIM115 - the process owns it
        self.sandbox_process = subprocess.Popen(
            [sys.executable, "manage.py", "sandbox", "--data-dir", str(self.sandbox_dir), "--seed", "empty",
             "--salesforce-port", str(self.ports["salesforce"]), "--exchange-port", str(self.ports["exchange"]),
             "--graph-port", str(self.ports["graph"])],
            cwd=ROOT, env=self.child_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        for name, port in self.ports.items():
            wait_for_port(port, 60, f"the sandbox's {name} emulator")

    @property
    def salesforce_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['salesforce']}"

    @property
    def exchange_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['exchange']}"

    @property
    def ews_endpoint(self) -> str:
        return f"{self.exchange_url}/EWS/Exchange.asmx"

    @property
    def graph_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['graph']}"

    @property
    def ca_path(self) -> Path:
        return self.sandbox_dir / "ca.pem"

    # ---- workers and beat ----------------------------------------------------------------------------------
    def add_worker(self, name: str, concurrency: int) -> None:
        self.managed[name] = Managed(name, [
            "celery", "-A", "syncadmin", "worker", "-Q", WORKER_QUEUES, "--concurrency", str(concurrency),
            "--loglevel", "INFO", "--hostname", f"{name}@%h"], self.logs / f"{name}.log")

    def add_beat(self) -> None:
        self.managed["beat"] = Managed("beat", [
            "celery", "-A", "syncadmin", "beat", "--schedule", str(self.work / "beat-schedule"), "--loglevel",
            "INFO"], self.logs / "beat.log")

    def _launch(self, item: Managed) -> None:
        with open(item.log_path, "a") as log:
            log.write(f"\n===== chaos: start #{item.starts + 1} at {self.clock():.1f} s =====\n")
            log.flush()
            item.process = subprocess.Popen([sys.executable, "-m", *item.arguments], cwd=ROOT, env=self.child_env(),
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        item.starts += 1

    def start_processes(self) -> None:
        for item in self.managed.values():
            self._launch(item)
        self._supervisor = threading.Thread(target=self._supervise, name="chaos-supervisor", daemon=True)
        self._supervisor.start()

    def clock(self) -> float:
        return time.monotonic() - self.started_at

    def kill(self, name: str, down_seconds: float) -> int | None:
        """SIGKILL a product process with its children; the supervisor starts it again after `down_seconds`."""
        with self._lock:
            item = self.managed[name]
            if item.process is None or item.process.poll() is not None:
                return None
            item.down_until = time.monotonic() + down_seconds
            pid = item.process.pid
            _kill_group(item.process)
            item.process.wait()
            with open(item.log_path, "a") as log:
                log.write(f"\n===== chaos: SIGKILLed at {self.clock():.1f} s =====\n")
            return pid

    def _supervise(self) -> None:
        while not self._stop.wait(1):
            with self._lock:
                for item in self.managed.values():
                    if item.process is None or item.process.poll() is None:
                        continue
                    if time.monotonic() < item.down_until:
                        continue
                    if item.down_until == 0.0:
                        item.unexpected_exits.append({
                            "process": item.name, "at_s": round(self.clock(), 1),
                            "exit_code": item.process.returncode, "log_tail": tail(item.log_path, 1500)})
                    item.down_until = 0.0
                    self._launch(item)

    def all_running(self) -> bool:
        with self._lock:
            return all(item.process is not None and item.process.poll() is None for item in self.managed.values())

    def unexpected_exits(self) -> list[dict]:
        return [exit_ for item in self.managed.values() for exit_ in item.unexpected_exits]

    # ---- the end -------------------------------------------------------------------------------------------
    def keep_logs(self, destination: Path) -> None:
        destination.mkdir(parents=True, exist_ok=True)
        for path in self.logs.glob("*.log"):
            shutil.copy2(path, destination / path.name)
        if self.postgres.log.exists():
            shutil.copy2(self.postgres.log, destination / "postgres.log")

    def close(self) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=5)
        with self._lock:
            for item in self.managed.values():
                _stop(item.process)
        _stop(self.sandbox_process)
        self.redis.close()
        with suppress(Exception):
            self.postgres.close()
        shutil.rmtree(self.work, ignore_errors=True)
