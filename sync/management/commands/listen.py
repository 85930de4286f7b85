"""`manage.py listen`: the change feeds' long-running listener (see sync.feeds.listener)."""

import signal
import threading

from django.core.management.base import BaseCommand

from sync.feeds.listener import Listener


class Command(BaseCommand):
    help = ("Run the change feeds: EWS streaming subscriptions, the Salesforce org feed and Graph delta polling; "
            "one listener is active per deployment (a second one waits as a standby).")

    def add_arguments(self, parser):
        parser.add_argument("--no-ews-streams", action="store_true",
                            help="Do not hold EWS streaming subscriptions (EWS mailboxes then poll).")

    def handle(self, *args, **options):
        stop = threading.Event()
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda *_: stop.set())
        self.stdout.write("Listening for changes (stop with Ctrl+C).")
        Listener(stop=stop, ews_streams=not options["no_ews_streams"]).run()
        self.stdout.write("The listener stopped.")
