"""Moves the clear-text tokens of DRF's former ``rest_framework.authtoken`` app into hashed API tokens, so that every
existing client keeps its key, then drops that app's table (the last copy of the keys) and its migration records.

A database that never had the table (a new installation) is left as it is. There is no way back: the keys are gone.
"""

from datetime import UTC, datetime
import hashlib

from django.db import migrations
from django.utils.dateparse import parse_datetime

LEGACY_APP = "authtoken"
LEGACY_TABLE = "authtoken_token"
MIGRATED_NAME = "Token from before hashing"
LEGACY_PREFIX_LENGTH = 8  # as apitokens.keys, copied: a migration must not change when the app's code does


def _aware(value) -> datetime:
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is None:
        return datetime.now(UTC)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def move_clear_tokens(ApiToken, connection) -> int:
    """Copy each clear token as a hashed one, drop the clear table; how many tokens were moved."""
    if LEGACY_TABLE not in connection.introspection.table_names():
        return 0
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quote('key')}, {quote('user_id')}, {quote('created')} FROM {quote(LEGACY_TABLE)}")
        rows = cursor.fetchall()
    known = set(ApiToken.objects.values_list("key_hash", flat=True))
    moved = [
        ApiToken(user_id=user_id, name=MIGRATED_NAME, prefix=key[:LEGACY_PREFIX_LENGTH],
                 key_hash=hashlib.sha256(key.encode()).hexdigest(), created_at=_aware(created))
        for key, user_id, created in rows
    ]
    ApiToken.objects.bulk_create([token for token in moved if token.key_hash not in known])
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {quote(LEGACY_TABLE)}")
        cursor.execute(f"DELETE FROM {quote('django_migrations')} WHERE {quote('app')} = %s", [LEGACY_APP])
    return len(moved)


def forwards(apps, schema_editor):
    move_clear_tokens(apps.get_model("apitokens", "ApiToken"), schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("apitokens", "0001_api_token"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]
