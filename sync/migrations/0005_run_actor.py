"""SyncRun.requested_by becomes SyncRun.actor: one word for the person behind an operation (the API keeps
`requested_by` in the run's JSON, its published name)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0004_run_exchange_protocol"),
    ]

    operations = [
        migrations.RenameField(model_name="syncrun", old_name="requested_by", new_name="actor"),
    ]
