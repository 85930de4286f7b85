"""Run the chaos run from a snapshot of the code, not from the working tree.

A chaos run lasts half an hour, and the product's processes (workers restarted after a SIGKILL, modules imported
on first use) would otherwise load whatever the working tree holds at that moment, half of an edit included. So the
run first extracts the last commit (`git archive HEAD`, read-only) into a temporary directory, lays this package's
files over it, and runs itself again from there; every process it starts then runs that one version.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = "CHAOS_SNAPSHOT"
IGNORED = shutil.ignore_patterns(".venv", "var", ".git", "__pycache__", "test-artifacts", "node_modules")


def in_snapshot() -> bool:
    return bool(os.environ.get(MARKER))


def _extract(destination: Path) -> str:
    """The last commit into `destination` (or, without git, the working tree); answers what was taken."""
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True, timeout=60).stdout.strip()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", "HEAD"], capture_output=True,
                                 check=True, timeout=300).stdout
    except (OSError, subprocess.SubprocessError):
        shutil.copytree(ROOT, destination, ignore=IGNORED, dirs_exist_ok=True)
        return "the working tree (no git)"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, filter="data")
    return f"commit {commit}"


def run_from_snapshot() -> int:
    """Extract the snapshot, run `python -m benchmarks.chaos` again from it with the same arguments, and remove it
    afterwards. Ctrl-C, SIGTERM and SIGHUP are passed on to the run, which stops what it started before this
    returns."""
    destination = Path(tempfile.mkdtemp(prefix="chaos-src-"))
    try:
        taken = _extract(destination)
        package = destination / "benchmarks" / "chaos"
        shutil.rmtree(package, ignore_errors=True)
        shutil.copytree(Path(__file__).resolve().parent, package, ignore=IGNORED)
        env = {**os.environ, MARKER: taken, "CHAOS_CWD": os.getcwd()}
        child = subprocess.Popen([sys.executable, "-m", "benchmarks.chaos", *sys.argv[1:]], cwd=destination, env=env)

        def forward(signum, frame):
            child.send_signal(signum)

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, forward)  # the run ignores a second one while it cleans up
        return child.wait()
    finally:
        shutil.rmtree(destination, ignore_errors=True)
