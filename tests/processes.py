"""Start the product's real processes (a Celery worker, beat, the change-feed listener) for end-to-end tests."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def database_url_for_subprocess() -> str:
    """The URL of the database the tests are using right now (the test database), for a child process."""
    config = connection.settings_dict
    if config["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{config['NAME']}"
    user = config.get("USER") or ""
    password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{config.get('HOST') or '127.0.0.1'}:{config.get('PORT') or 5432}/{config['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"DATABASE_URL": database_url_for_subprocess(), "DJANGO_SETTINGS_MODULE": "syncadmin.settings"})
    env.update(extra)
    return env


@contextmanager
def _process(arguments: list[str], log_path: Path | None, **env: str) -> Iterator[subprocess.Popen]:
    log = open(log_path or os.devnull, "w")  # noqa: SIM115 - closed below
    # A session of its own, so that a test can kill the process with all its children (kill_hard).
    process = subprocess.Popen([sys.executable, "-m", *arguments], cwd=ROOT, env=child_env(**env), stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def celery_worker(queues: str, *, concurrency: int = 1, log_path: Path | None = None, **env: str):
    """A real Celery worker consuming ``queues`` (a context manager; stopped afterwards)."""
    return _process(
        ["celery", "-A", "syncadmin", "worker", "-Q", queues, "--concurrency", str(concurrency), "--pool",
         "prefork", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
         "--hostname", f"e2e-{os.getpid()}-{time.monotonic_ns()}@%h"],
        log_path, **env,
    )


def celery_beat(schedule_path: Path, *, interval_seconds: int, log_path: Path | None = None, **env: str):
    """A real Celery beat sending the periodic tasks every `interval_seconds`."""
    return _process(["celery", "-A", "syncadmin", "beat", "--schedule", str(schedule_path), "--loglevel", "INFO"],
                    log_path, CELERY_BEAT_INTERVAL_SECONDS=str(interval_seconds), **env)


def listener(*, log_path: Path | None = None, **env: str):
    """A real change-feed listener (`manage.py listen`, a context manager; stopped with SIGTERM afterwards, so it
    lets go of its lease as a deployment's stop would)."""
    return _process(["django", "listen"], log_path, **env)


def wait_for(condition, timeout: float, interval: float = 0.5, message: str = "condition"):
    """Poll `condition` until it returns something truthy; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}")
        time.sleep(interval)


def kill_hard(process: subprocess.Popen) -> None:
    """SIGKILL a process and every child in its session, as an out-of-memory killer or a pulled plug would."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
