"""RecordLink.outlook_unseen: an Outlook item linked after the last stored Exchange feed read (the sync's own
creates), checked by the next run because the feed never reports an item created and deleted between two reads
(issue 20)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0005_run_actor"),
    ]

    operations = [
        migrations.AddField(model_name="recordlink", name="outlook_unseen", field=models.BooleanField(default=False)),
    ]
