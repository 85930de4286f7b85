import signal
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sandbox.demo import PASSWORD, SERVICE_ACCOUNT
from sandbox.hub import SEEDS
from sandbox.runner import start_sandbox
from sandbox.services import setup_demo


class Command(BaseCommand):
    help = "Run the Salesforce, Exchange (EWS) and Exchange Online (Graph) emulators in the foreground until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        # Defaults from SANDBOX_SALESFORCE_PORT, SANDBOX_EXCHANGE_PORT, SANDBOX_GRAPH_PORT (8443, 8444, 8445).
        parser.add_argument("--salesforce-port", type=int, default=settings.SANDBOX_SALESFORCE_PORT)
        parser.add_argument("--exchange-port", type=int, default=settings.SANDBOX_EXCHANGE_PORT)
        parser.add_argument("--graph-port", type=int, default=settings.SANDBOX_GRAPH_PORT)
        parser.add_argument("--smtp-port", type=int, default=settings.SANDBOX_SMTP_PORT,
                            help="the SMTP sink's port (alerts' e-mails, listed on the console's mail page in DEBUG)")
        parser.add_argument("--exchange-https", action="store_true", help="serve EWS over HTTPS with the sandbox CA")
        parser.add_argument("--data-dir", default=str(settings.SANDBOX_DATA_DIR))
        parser.add_argument("--seed", choices=SEEDS, default="demo", help="data for a new data directory")
        parser.add_argument(
            "--setup-demo", action="store_true",
            help="once started, connect the product to it, import its users and give them a demo configuration",
        )

    def handle(self, *args, **options):
        try:
            running = start_sandbox(
                Path(options["data_dir"]),
                host=options["host"],
                salesforce_port=options["salesforce_port"],
                exchange_port=options["exchange_port"],
                seed=options["seed"],
                exchange_https=options["exchange_https"],
                graph_port=options["graph_port"],
                smtp_port=options["smtp_port"],
            )
        except OSError as exc:
            raise CommandError(f"could not start the sandbox: {exc}") from exc

        self.stdout.write(f"Salesforce emulator: {running.salesforce_url}  (CA certificate: {running.ca_path})")
        self.stdout.write(f"Exchange emulator:   {running.ews_endpoint}")
        self.stdout.write(f"Graph emulator:      {running.graph_url}/v1.0  (authority: {running.graph_url}/<tenant>; "
                          f"app registration: {running.graph_app_path})")
        if running.smtp is not None:
            self.stdout.write(f"SMTP sink:           {options['host']}:{running.smtp.port}  (e-mails kept in "
                              f"{running.smtp.folder}; the console lists them at /alerts/mail/ under DEBUG)")
        self.stdout.write(f"Service account:     {SERVICE_ACCOUNT} / {PASSWORD}; every user's password: {PASSWORD}")
        self.stdout.write(f"Data directory:      {Path(options['data_dir']).resolve()}")

        if options["setup_demo"]:
            try:
                for line in setup_demo(Path(options["data_dir"]), running.salesforce_url, running.ews_endpoint,
                                       running.graph_url):
                    self.stdout.write(f"Demo set-up: {line}")
            except Exception as exc:  # noqa: BLE001 - the emulators keep running; say what failed
                self.stderr.write(f"Demo set-up failed: {exc}")

        stopped = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopped.set())
        stopped.wait()
        running.stop()
        self.stdout.write("Sandbox stopped.")
