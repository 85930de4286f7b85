import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0008_run_error_end"),
        ("configurations", "0001_initial"),
        ("users", "0003_exchange_route"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Preview",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("dry_run", "Dry run"), ("impact", "Impact preview")],
                                          max_length=16)),
                ("state", models.CharField(choices=[("queued", "Queued"), ("running", "Running"), ("done", "Done"),
                                                    ("failed", "Failed")], default="queued", max_length=16)),
                ("request", models.JSONField(blank=True, default=dict)),
                ("progress", models.JSONField(blank=True, default=dict)),
                ("result", models.JSONField(blank=True, null=True)),
                ("error_message", models.TextField(blank=True, default="")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                ("configuration", models.ForeignKey(blank=True, null=True,
                                                    on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                                                    to="configurations.outlookconfiguration")),
                ("requested_by", models.ForeignKey(blank=True, null=True,
                                                   on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                                                   to=settings.AUTH_USER_MODEL)),
                ("user", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE,
                                           related_name="previews", to="users.syncuser")),
            ],
            options={"ordering": ["-created_at", "-pk"]},
        ),
    ]
