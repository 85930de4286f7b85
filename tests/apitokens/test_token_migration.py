"""The clear-text tokens of DRF's former authtoken app become hashed API tokens: their clients keep working, and the
clear keys are gone from the database."""

import importlib
from datetime import UTC, datetime

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apitokens.models import ApiToken

pytestmark = pytest.mark.django_db

migration = importlib.import_module("apitokens.migrations.0002_move_clear_tokens")
LEGACY_KEY = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"  # the shape DRF gave: 40 hex characters


def make_legacy_table(rows):
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp NOT NULL, "
                       "user_id integer NOT NULL)")
        for row in rows:
            cursor.execute("INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)", row)
        cursor.execute("INSERT INTO django_migrations (app, name, applied) VALUES (%s, %s, %s)",
                       ["authtoken", "0001_initial", datetime.now(UTC)])


def test_clear_tokens_become_hashed_tokens_that_still_work(api_user, admin_user):
    created = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    make_legacy_table([(LEGACY_KEY, created, api_user.pk), ("a" * 40, created, admin_user.pk)])

    assert migration.move_clear_tokens(ApiToken, connection) == 2

    token = ApiToken.objects.get(user=api_user)
    assert token.prefix == LEGACY_KEY[:8] and token.name == migration.MIGRATED_NAME
    assert token.created_at == created and token.revoked_at is None and token.expires_at is None
    assert not any(LEGACY_KEY in str(value) for value in ApiToken.objects.values().get(pk=token.pk).values())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {LEGACY_KEY}")
    assert client.get("/api/v1/me/").json() == {"username": api_user.username, "role": "api"}


def test_the_clear_table_and_its_migration_records_are_gone(api_user):
    make_legacy_table([(LEGACY_KEY, datetime.now(UTC), api_user.pk)])
    migration.move_clear_tokens(ApiToken, connection)
    assert "authtoken_token" not in connection.introspection.table_names()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM django_migrations WHERE app = %s", ["authtoken"])
        assert cursor.fetchone()[0] == 0


def test_a_database_without_the_clear_table_is_left_alone(api_user):
    assert migration.move_clear_tokens(ApiToken, connection) == 0
    assert not ApiToken.objects.exists()
