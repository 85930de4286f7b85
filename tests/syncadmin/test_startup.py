"""Wrong environment values stop start-up with a message naming the variable (real processes, real settings)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "SECRETS_KEY"}}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DATABASE_URL": "mysql://root@127.0.0.1/sync"}, "DATABASE_URL: unsupported database URL scheme 'mysql'"),
        ({"DATABASE_URL": "postgres://u@h:notaport/db"}, "DATABASE_URL"),
        ({"API_PAGE_SIZE": "fifty"}, "API_PAGE_SIZE: expected an integer, got 'fifty'"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL: expected redis://host:port/db"),
        ({"SYNCADMIN_ENV": "production", "DEBUG": "true", "SECRET_KEY": "x" * 40}, "DEBUG: must be off"),
        ({"SYNCADMIN_ENV": "production", "DEBUG": "false"}, "SECRET_KEY: set a random value"),
    ],
)
def test_bad_environment_stops_start_up(overrides, message):
    result = start(overrides)
    assert result.returncode != 0
    assert message in result.stderr


def test_good_production_environment_starts():
    result = start({"SYNCADMIN_ENV": "production", "DEBUG": "false", "SECRET_KEY": "k" * 50, "SECRETS_KEY": "s" * 50,
                    "ALLOWED_HOSTS": "sync.example.com"})
    assert result.returncode == 0, result.stderr
