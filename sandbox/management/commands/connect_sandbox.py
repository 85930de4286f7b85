from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sandbox.services import (
    DEFAULT_EXCHANGE_URL,
    DEFAULT_GRAPH_URL,
    DEFAULT_SALESFORCE_URL,
    PROTOCOLS,
    SandboxNotFound,
    connect_to_sandbox,
)


class Command(BaseCommand):
    help = ("Point the Salesforce, Exchange (EWS) and Exchange Online (Graph) connections at a running sandbox "
            "(keys, CA and app registration from its data dir).")

    def add_arguments(self, parser):
        parser.add_argument("--salesforce-url", default=DEFAULT_SALESFORCE_URL)
        parser.add_argument("--exchange-url", default=DEFAULT_EXCHANGE_URL)
        parser.add_argument(
            "--graph-url", default=None,
            help=f"the Graph emulator (default {DEFAULT_GRAPH_URL} when the sandbox has one; 'none' to skip)",
        )
        parser.add_argument(
            "--exchange", choices=PROTOCOLS, default=settings.SANDBOX_EXCHANGE,
            help="which protocol serves the mailboxes (default: the SANDBOX_EXCHANGE setting)",
        )
        parser.add_argument("--data-dir", default=str(settings.SANDBOX_DATA_DIR))

    def handle(self, *args, salesforce_url, exchange_url, graph_url, exchange, data_dir, **options):
        data_dir = Path(data_dir)
        if graph_url is None:
            graph_url = DEFAULT_GRAPH_URL if (data_dir / "graph" / "app.json").exists() else None
        elif graph_url.lower() == "none":
            graph_url = None
        try:
            connections = connect_to_sandbox(data_dir, salesforce_url, exchange_url, graph_url, exchange)
        except SandboxNotFound as exc:
            raise CommandError(str(exc)) from exc
        for connection in connections.values():
            self.stdout.write(f"Connected: {connection}")
        self.stdout.write(f"Mailboxes are served by {'Microsoft Graph' if exchange == 'graph' else 'EWS'}.")
