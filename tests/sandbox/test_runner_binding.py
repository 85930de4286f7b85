"""The sandbox's control API has no authentication (it is a test double): served beyond loopback, it says so."""

import logging

import pytest

from sandbox.runner import is_loopback, start_sandbox


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.10", False), ("sandbox.example.com", False),  # noqa: S104
])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_binding_beyond_loopback_logs_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="sandbox.runner"):
        running = start_sandbox(tmp_path / "open", host="0.0.0.0", seed="empty")  # noqa: S104 - the case under test
        running.stop()
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any("control API" in message for message in warnings)


def test_loopback_binding_is_quiet(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="sandbox.runner"):
        running = start_sandbox(tmp_path / "closed", seed="empty")
        running.stop()
    assert not [record for record in caplog.records if record.name == "sandbox.runner"]
