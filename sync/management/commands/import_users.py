"""`manage.py import_users`: the import of Salesforce's active users (users.operations.import_users)."""

from django.core.management.base import BaseCommand, CommandError

from sync.connectors.base import ConnectorError
from users.operations import import_users


class Command(BaseCommand):
    help = "Import active Salesforce users (id, username, e-mail, name, profile) as synced users."

    def handle(self, *args, **options):
        try:
            result = import_users()
        except ConnectorError as exc:
            raise CommandError(f"{exc.code}: {exc.message} {getattr(exc, 'action', '')}".strip()) from exc
        self.stdout.write(
            f"Imported from Salesforce: {len(result.created)} new, {len(result.updated)} updated, "
            f"{len(result.deactivated)} deactivated."
        )
        for label, names in (("new", result.created), ("updated", result.updated),
                             ("deactivated", result.deactivated)):
            for name in names:
                self.stdout.write(f"  {label}: {name}")
