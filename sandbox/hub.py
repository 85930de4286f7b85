"""The sandbox as one object: the emulators, the people they share, and the control operations that span them.

Each emulator keeps and persists its own data under ``<data_dir>/salesforce``, ``<data_dir>/exchange`` and
``<data_dir>/graph``. What spans them lives here: creating a user (a Salesforce User, its EWS mailbox and its
Exchange Online mailbox behind Graph), resetting, seeding.
"""

import json
import threading
from pathlib import Path

from sandbox.demo import DEMO_USERS
from sandbox.exchange.emulator import ExchangeEmulator
from sandbox.graph.emulator import GraphEmulator
from sandbox.salesforce.emulator import SalesforceEmulator

SEEDS = ("demo", "empty")


class Sandbox:
    def __init__(self, data_dir: Path, seed: str = "demo"):
        if seed not in SEEDS:
            raise ValueError(f"unknown seed {seed!r}; expected one of {', '.join(SEEDS)}")
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.salesforce = SalesforceEmulator(self.data_dir / "salesforce", hub=self)
        self.exchange = ExchangeEmulator(self.data_dir / "exchange", hub=self)
        self.graph = GraphEmulator(self.data_dir / "graph", hub=self)

        marker = self.data_dir / "sandbox.json"
        if marker.exists():
            self.seed = json.loads(marker.read_text())["seed"]
            if not self.graph.mailboxes:
                # A data directory from before the Graph emulator existed: give its users their Graph mailboxes.
                self._add_graph_mailboxes()
        else:
            self.seed = seed
            self._create_demo_users()
            if seed == "demo":
                self.salesforce.seed_demo()
                self.exchange.seed_demo()
                self.graph.seed_demo()
            marker.write_text(json.dumps({"seed": seed}))

    def create_user(
        self, *, username: str, email: str, first_name: str, last_name: str, profile: str,
        time_zone: str | None = None,
    ) -> dict:
        """Create a Salesforce user and its mailbox; answer what the control API returns.

        `time_zone`: the user's TimeZoneSidKey (an IANA name from the emulator's picklist); by default the org's,
        GMT, as every sandbox user before time zones had."""
        with self.lock:
            salesforce_id = self.salesforce.create_user(
                username=username, email=email, first_name=first_name, last_name=last_name, profile=profile,
                time_zone=time_zone,
            )
            mailbox = self.exchange.create_mailbox(email=email, display_name=f"{first_name} {last_name}".strip())
            self.graph.create_mailbox(email=email, display_name=f"{first_name} {last_name}".strip())
        return {"salesforce_id": salesforce_id, "mailbox": mailbox}

    def reset(self) -> None:
        """Wipe all data on both ends, keeping the demo users' definitions (users and mailboxes, no records)."""
        with self.lock:
            self.salesforce.reset()
            self.exchange.reset()
            self.graph.reset()
            self._create_demo_users()

    def _add_graph_mailboxes(self) -> None:
        for email in sorted(self.exchange.mailboxes):
            mb = self.exchange.store.mailbox(email)
            self.graph.create_mailbox(email=email, display_name=mb.get("display_name") or email)
        if self.seed == "demo":
            self.graph.seed_demo()

    def _create_demo_users(self) -> None:
        for user in DEMO_USERS:
            self.create_user(
                username=user.username, email=user.email, first_name=user.first_name,
                last_name=user.last_name, profile=user.profile,
            )
