from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sandbox.services import PROTOCOLS, SandboxNotFound, connect_to_sandbox


def _graph_url() -> str:
    return f"https://127.0.0.1:{settings.SANDBOX_GRAPH_PORT}"


class Command(BaseCommand):
    help = ("Point the Salesforce, Exchange (EWS) and Exchange Online (Graph) connections at a running sandbox "
            "(keys, CA and app registration from its data dir).")

    def add_arguments(self, parser):
        # On this machine, at the sandbox's ports (SANDBOX_SALESFORCE_PORT, SANDBOX_EXCHANGE_PORT, SANDBOX_GRAPH_PORT).
        parser.add_argument("--salesforce-url", default=f"https://127.0.0.1:{settings.SANDBOX_SALESFORCE_PORT}")
        parser.add_argument("--exchange-url",
                            default=f"http://127.0.0.1:{settings.SANDBOX_EXCHANGE_PORT}/EWS/Exchange.asmx")
        parser.add_argument(
            "--graph-url", default=None,
            help=f"the Graph emulator (default {_graph_url()} when the sandbox has one; 'none' to skip)",
        )
        parser.add_argument(
            "--exchange", choices=PROTOCOLS, default=settings.SANDBOX_EXCHANGE,
            help="which protocol serves the mailboxes (default: the SANDBOX_EXCHANGE setting)",
        )
        parser.add_argument("--data-dir", default=str(settings.SANDBOX_DATA_DIR))

    def handle(self, *args, salesforce_url, exchange_url, graph_url, exchange, data_dir, **options):
        data_dir = Path(data_dir)
        if graph_url is None:
            graph_url = _graph_url() if (data_dir / "graph" / "app.json").exists() else None
        elif graph_url.lower() == "none":
            graph_url = None
        try:
            connections = connect_to_sandbox(data_dir, salesforce_url, exchange_url, graph_url, exchange)
        except SandboxNotFound as exc:
            raise CommandError(str(exc)) from exc
        for connection in connections.values():
            self.stdout.write(f"Connected: {connection}")
        self.stdout.write(f"Mailboxes are served by {'Microsoft Graph' if exchange == 'graph' else 'EWS'}.")
