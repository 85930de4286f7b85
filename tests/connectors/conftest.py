"""One running sandbox for every connector test of the session (Salesforce, EWS and Graph emulators, empty)."""

from pathlib import Path

import pytest

from sandbox.runner import start_sandbox


@pytest.fixture(scope="session")
def sandbox_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("connectors-sandbox")


@pytest.fixture(scope="session")
def sandbox(sandbox_dir):
    running = start_sandbox(sandbox_dir, seed="empty")
    yield running
    running.stop()
