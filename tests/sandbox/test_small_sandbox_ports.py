"""Issue 15 item 12: the sandbox's ports move with SANDBOX_SALESFORCE_PORT, SANDBOX_EXCHANGE_PORT and
SANDBOX_GRAPH_PORT (so `make run` can run beside another sandbox), and default to the contract's 8443, 8444, 8445."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from sandbox.management.commands import connect_sandbox, sandbox

ROOT = Path(__file__).resolve().parents[2]


def _defaults(command, name: str) -> dict:
    return vars(command.Command().create_parser("manage.py", name).parse_args([]))


def test_the_contracts_ports_are_the_defaults():
    options = _defaults(sandbox, "sandbox")
    assert (options["salesforce_port"], options["exchange_port"], options["graph_port"]) == (8443, 8444, 8445)
    urls = _defaults(connect_sandbox, "connect_sandbox")
    assert (urls["salesforce_url"], urls["exchange_url"]) == (
        "https://127.0.0.1:8443",
        "http://127.0.0.1:8444/EWS/Exchange.asmx",
    )


@override_settings(SANDBOX_SALESFORCE_PORT=9443, SANDBOX_EXCHANGE_PORT=9444, SANDBOX_GRAPH_PORT=9445)
def test_the_settings_move_both_commands():
    options = _defaults(sandbox, "sandbox")
    assert (options["salesforce_port"], options["exchange_port"], options["graph_port"]) == (9443, 9444, 9445)
    urls = _defaults(connect_sandbox, "connect_sandbox")
    assert (urls["salesforce_url"], urls["exchange_url"]) == (
        "https://127.0.0.1:9443",
        "http://127.0.0.1:9444/EWS/Exchange.asmx",
    )
    assert connect_sandbox._graph_url() == "https://127.0.0.1:9445"


@pytest.mark.parametrize("value", ["0", "70000", "http"])
def test_a_bad_port_stops_start_up_naming_the_variable(value, tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "syncadmin.settings",
            "SYNCADMIN_VAR_DIR": str(tmp_path),
            "SANDBOX_EXCHANGE_PORT": value,
        },
        check=False,
    )
    assert run.returncode != 0 and "SANDBOX_EXCHANGE_PORT" in run.stderr
