"""The audit trail moves here from ``configurations``: the model's state only, on the table it already has
(``configurations_auditentry``), so no row moves. Its content type moves with it, so the permissions granted on
it (and admin log entries) keep pointing at it."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

ACTIONS = [
    ('configuration.created', 'Configuration Created'), ('configuration.updated', 'Configuration Updated'),
    ('configuration.deleted', 'Configuration Deleted'), ('assignment.assigned', 'Users Assigned'),
    ('assignment.moved_away', 'Users Moved Away'), ('assignment.unassigned', 'Users Unassigned'),
    ('user.added', 'User Added'), ('user.routed', 'User Routed'),
]


def move_content_type(apps, schema_editor, source="configurations", target="audit"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    if ContentType.objects.using(db).filter(app_label=target, model="auditentry").exists():
        return
    ContentType.objects.using(db).filter(app_label=source, model="auditentry").update(app_label=target)


def move_content_type_back(apps, schema_editor):
    move_content_type(apps, schema_editor, source="audit", target="configurations")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('configurations', '0002_user_routed_action'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='AuditEntry',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name='ID')),
                        ('at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('actor_name', models.CharField(blank=True, default='', max_length=150)),
                        ('action', models.CharField(choices=ACTIONS, max_length=40)),
                        ('configuration_name', models.CharField(blank=True, default='', max_length=120)),
                        ('summary', models.CharField(blank=True, default='', max_length=255)),
                        ('changes', models.JSONField(blank=True, default=dict)),
                        ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                                                    related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('configuration', models.ForeignKey(blank=True, db_constraint=False, null=True,
                                                            on_delete=django.db.models.deletion.DO_NOTHING,
                                                            related_name='+',
                                                            to='configurations.outlookconfiguration')),
                    ],
                    options={
                        'db_table': 'configurations_auditentry',
                        'verbose_name_plural': 'audit entries',
                        'ordering': ['-at', '-id'],
                        'indexes': [models.Index(fields=['configuration', '-at'], name='audit_by_configuration')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_type, move_content_type_back, elidable=True),
    ]
