from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sandbox.services import DEFAULT_EXCHANGE_URL, DEFAULT_SALESFORCE_URL, SandboxNotFound, connect_to_sandbox


class Command(BaseCommand):
    help = "Point the Salesforce and Exchange connections at a running sandbox (keys and CA from its data dir)."

    def add_arguments(self, parser):
        parser.add_argument("--salesforce-url", default=DEFAULT_SALESFORCE_URL)
        parser.add_argument("--exchange-url", default=DEFAULT_EXCHANGE_URL)
        parser.add_argument("--data-dir", default=str(settings.SANDBOX_DATA_DIR))

    def handle(self, *args, salesforce_url, exchange_url, data_dir, **options):
        try:
            connections = connect_to_sandbox(Path(data_dir), salesforce_url, exchange_url)
        except SandboxNotFound as exc:
            raise CommandError(str(exc)) from exc
        for connection in connections.values():
            self.stdout.write(f"Connected: {connection}")
