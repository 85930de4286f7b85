"""The audit trail now lives in the ``audit`` app (see ``audit/migrations/0001_initial.py``): this removes the
model from this app's state only; its table stays, and is the ``audit`` app's now."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('configurations', '0002_user_routed_action'),
        ('audit', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='AuditEntry')],
            database_operations=[],
        ),
    ]
