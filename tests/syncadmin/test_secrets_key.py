"""SECRETS_KEY: required in production (never SECRET_KEY there), a development default that needs nothing, and
`manage.py rotate_secrets`, which re-encrypts every stored secret with the newest key, all or nothing, audited."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEntry
from sync.models import Connection
from syncadmin import crypto
from syncadmin.services import rotate_stored_secrets

ROOT = Path(__file__).resolve().parents[2]
OLD, NEW = "old-key-" + "o" * 40, "new-key-" + "n" * 40
PRODUCTION = {"SYNCADMIN_ENV": "production", "DEBUG": "false", "SECRET_KEY": "k" * 50}


def start(env_overrides: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "SECRETS_KEY", "SYNCADMIN_ENV"}}
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_production_refuses_to_start_without_secrets_key_and_says_how_to_set_it():
    result = start(PRODUCTION)
    assert result.returncode != 0
    assert "SECRETS_KEY: set it in production" in result.stderr
    assert "secrets.token_urlsafe" in result.stderr and "rotate_secrets" in result.stderr


def test_production_refuses_secret_key_as_the_newest_secrets_key():
    result = start({**PRODUCTION, "SECRETS_KEY": "k" * 50})
    assert result.returncode != 0
    assert "SECRETS_KEY: its first key must differ from SECRET_KEY" in result.stderr


def test_production_starts_with_a_new_key_first_and_secret_key_kept_after_it_to_rotate_from():
    result = start({**PRODUCTION, "SECRETS_KEY": f"{NEW},{'k' * 50}"})
    assert result.returncode == 0, result.stderr


def test_development_falls_back_to_secret_key(settings):
    settings.SECRETS_KEY = None
    assert crypto.key_materials() == [settings.SECRET_KEY]
    assert crypto.decrypt(crypto.encrypt("hunter2")) == "hunter2"


def test_nothing_encrypts_with_secret_key_in_production_even_past_the_settings(settings):
    settings.SECRETS_KEY, settings.PRODUCTION = None, True
    with pytest.raises(ImproperlyConfigured, match="SECRETS_KEY"):
        crypto.encrypt("hunter2")


def connection(kind: str, secret: str) -> Connection:
    row = Connection(kind=kind, url="https://example.com", username="svc@example.com")
    row.set_secret(secret)
    row.save()
    return row


@pytest.fixture
def two_secrets_under_the_old_key(db, settings):
    settings.SECRETS_KEY = OLD
    return {"salesforce": connection("salesforce", "-----BEGIN PRIVATE KEY-----\nabc"),
            "exchange": connection("exchange", "service-password")}


def test_rotate_secrets_re_encrypts_every_secret_with_the_newest_key(two_secrets_under_the_old_key, settings,
                                                                       capsys):
    before = {kind: row.secret_encrypted for kind, row in two_secrets_under_the_old_key.items()}
    connection("graph", "")  # no secret stored: nothing to re-encrypt
    settings.SECRETS_KEY = f"{NEW},{OLD}"
    call_command("rotate_secrets")
    assert capsys.readouterr().out.strip() == (
        "Re-encrypted 2 stored secrets with the newest key. The other 1 key in SECRETS_KEY can now be removed.")
    settings.SECRETS_KEY = NEW  # the old key is gone: every secret still reads
    rows = {row.kind: row for row in Connection.objects.all()}
    assert rows["salesforce"].secret == "-----BEGIN PRIVATE KEY-----\nabc"
    assert rows["exchange"].secret == "service-password"
    assert rows["graph"].secret_encrypted == ""
    assert all(rows[kind].secret_encrypted != before[kind] for kind in before)


def test_rotate_secrets_is_audited_without_the_secret(two_secrets_under_the_old_key, settings):
    settings.SECRETS_KEY = f"{NEW},{OLD}"
    assert rotate_stored_secrets() == 2
    entries = AuditEntry.objects.filter(action=AuditEntry.Action.CONNECTION_UPDATED).order_by("subject")
    assert [(e.subject, e.changes, e.actor_name) for e in entries] == [
        ("Exchange (EWS) connection", {"secret": "re-encrypted"}, ""),
        ("Salesforce org connection", {"secret": "re-encrypted"}, ""),
    ]
    assert all("service-password" not in str(e.changes) + e.summary for e in entries)


def test_rotate_secrets_keeps_connection_settings_and_their_time(two_secrets_under_the_old_key, settings):
    before = {row.kind: row.updated_at for row in Connection.objects.all()}
    settings.SECRETS_KEY = f"{NEW},{OLD}"
    rotate_stored_secrets()
    assert {row.kind: row.updated_at for row in Connection.objects.all()} == before


def test_a_secret_no_key_reads_stops_the_rotation_and_changes_nothing(two_secrets_under_the_old_key, settings):
    settings.SECRETS_KEY = "lost-key-" + "l" * 40
    connection("graph", "graph-client-secret")  # sorts after the two under the old key
    settings.SECRETS_KEY = f"{NEW},{OLD}"
    before = dict(Connection.objects.values_list("kind", "secret_encrypted"))
    with pytest.raises(CommandError, match=r"The Exchange Online \(Microsoft Graph\) connection's secret cannot be "
                                           r"decrypted with any key in SECRETS_KEY.*nothing was re-encrypted"):
        call_command("rotate_secrets")
    assert dict(Connection.objects.values_list("kind", "secret_encrypted")) == before
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.CONNECTION_UPDATED).exists()


def test_with_one_key_rotation_still_re_encrypts_and_says_nothing_about_other_keys(two_secrets_under_the_old_key,
                                                                                     capsys):
    call_command("rotate_secrets")
    assert capsys.readouterr().out.strip() == "Re-encrypted 2 stored secrets with the newest key."


def test_every_stored_secret_is_one_rotate_secrets_re_encrypts():
    """A model field holding a secret encrypted with SECRETS_KEY, or a module encrypting one elsewhere, must be
    added to syncadmin.services.rotate_stored_secrets (and here)."""
    encrypted_fields = {
        f"{model._meta.label}.{field.name}"
        for model in apps.get_models() for field in model._meta.get_fields() if field.name.endswith("_encrypted")
    }
    assert encrypted_fields == {"sync.Connection.secret_encrypted", "alerts.AlertSettings.webhook_secret_encrypted"}
    encrypting_modules = set()
    for package in ("syncadmin", "configurations", "users", "sync", "audit", "apitokens", "alerts"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                calls_encrypt = isinstance(node, ast.Attribute) and node.attr == "encrypt"
                if calls_encrypt and getattr(node.value, "id", "") == "crypto":
                    encrypting_modules.add(str(path.relative_to(ROOT)))
    assert encrypting_modules == {"sync/models.py"}


def test_rotate_secrets_re_encrypts_the_alerts_webhook_secret(two_secrets_under_the_old_key, settings):
    from alerts.models import AlertSettings

    AlertSettings.objects.filter(pk=AlertSettings.load().pk).update(
        webhook_secret_encrypted=crypto.encrypt("shared-with-the-receiver"))
    before = AlertSettings.load().webhook_secret_encrypted
    settings.SECRETS_KEY = f"{NEW},{OLD}"
    assert rotate_stored_secrets() == 3
    settings.SECRETS_KEY = NEW
    row = AlertSettings.load()
    assert row.webhook_secret_encrypted != before
    assert crypto.decrypt(row.webhook_secret_encrypted) == "shared-with-the-receiver"
    entry = AuditEntry.objects.get(action=AuditEntry.Action.ALERT_SETTINGS_CHANGED)
    assert entry.changes == {"webhook_secret": "re-encrypted"}
