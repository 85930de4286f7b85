"""A running sandbox, the product connected to it, and the real clients to arrange and check both ends."""

import json
import uuid
from dataclasses import dataclass

import pytest
import requests
from exchangelib import BASIC, IMPERSONATION, Account, Build, Configuration, Credentials, Version
from simple_salesforce import Salesforce

from configurations.services import create_configuration
from sandbox.demo import PASSWORD, SERVICE_ACCOUNT
from sandbox.runner import start_sandbox
from sandbox.services import connect_to_sandbox
from tests.e2e.outlook import EwsOutlook, GraphOutlook
from users.services import add_sync_user, assign_users, set_exchange_route


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    running = start_sandbox(tmp_path_factory.mktemp("sandbox"), seed="empty")
    yield running
    running.stop()


@dataclass
class Person:
    """A sandbox user with a mailbox, known to the product as a synced user.

    `outlook` reaches the mailbox through the protocol that serves it (see tests/e2e/outlook.py); `mailbox` is the
    exchangelib Account of the EWS emulator's mailbox, for the scenarios written against EWS alone.
    """

    sync_user: object
    username: str
    salesforce: Salesforce
    mailbox: Account
    outlook: EwsOutlook | GraphOutlook


class World:
    """The sandbox, with the product connected to all three emulators: EWS serves every mailbox except those
    routed to Graph one by one (a hybrid organisation), so `person(protocol="graph")` is an Exchange Online user."""

    def __init__(self, sandbox, protocol: str = "ews"):
        self.sandbox = sandbox
        self.protocol = protocol
        connect_to_sandbox(sandbox.hub.data_dir, sandbox.salesforce_url, sandbox.ews_endpoint, sandbox.graph_url)
        self.graph_app = json.loads(sandbox.graph_app_path.read_text())
        self.ews_config = Configuration(
            service_endpoint=sandbox.ews_endpoint, credentials=Credentials(SERVICE_ACCOUNT, PASSWORD),
            auth_type=BASIC, version=Version(build=Build(15, 1, 2507, 6)),
        )

    def http(self) -> requests.Session:
        session = requests.Session()
        session.verify = str(self.sandbox.ca_path)
        session.trust_env = False
        return session

    def person(self, profile: str = "Standard User", protocol: str | None = None) -> Person:
        name = f"u{uuid.uuid4().hex[:8]}"
        email = f"{name}@sandbox.test"
        created = self.sandbox.hub.create_user(username=email, email=email, first_name="Pat", last_name=name,
                                               profile=profile)
        sync_user = add_sync_user({"salesforce_id": created["salesforce_id"], "username": email, "email": email,
                                   "name": f"Pat {name}", "profile": profile})
        mailbox = Account(primary_smtp_address=email, config=self.ews_config, autodiscover=False,
                          access_type=IMPERSONATION)
        if (protocol or self.protocol) == "graph":
            set_exchange_route(sync_user, "graph")
            sync_user.refresh_from_db()
            outlook = GraphOutlook(self.sandbox.graph_url, self.graph_app, email, str(self.sandbox.ca_path))
        else:
            outlook = EwsOutlook(mailbox, f"{self.sandbox.exchange_url}/_sandbox/mailboxes/{email}",
                                 str(self.sandbox.ca_path))
        return Person(sync_user, email, self._salesforce(email), mailbox, outlook)

    def _salesforce(self, username: str) -> Salesforce:
        """simple-salesforce as the user (password grant), to arrange and check data from outside the product."""
        token = self.http().post(f"{self.sandbox.salesforce_url}/services/oauth2/token", data={
            "grant_type": "password", "client_id": "tests", "username": username, "password": PASSWORD}).json()
        return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=self.http(),
                          version="62.0")

    def refresh(self, person: Person) -> Person:
        """The same person with a new Salesforce session (after the sandbox expired theirs)."""
        return Person(person.sync_user, person.username, self._salesforce(person.username), person.mailbox,
                      person.outlook)

    def configure(self, person: Person, **data_settings) -> None:
        configuration = create_configuration({
            "name": f"config-{uuid.uuid4().hex[:8]}",
            "data_settings": data_settings,
            "data_sets": {"contacts": {"scope": "my_contacts"}, "events": {"days_back": 30, "days_ahead": 90}},
        })
        assign_users(configuration, [person.username])

    def fault(self, port_url: str, **fault) -> None:
        response = self.http().post(f"{port_url}/_sandbox/faults", json=fault)
        assert response.status_code == 201, response.text

    def clear_faults(self) -> None:
        for url in (self.sandbox.salesforce_url, self.sandbox.exchange_url, self.sandbox.graph_url):
            self.http().delete(f"{url}/_sandbox/faults")


def _world(sandbox, protocol: str = "ews"):
    world = World(sandbox, protocol)
    yield world
    world.clear_faults()


@pytest.fixture
def world(sandbox, db):
    yield from _world(sandbox)


@pytest.fixture(params=["ews", "graph"])
def either_world(sandbox, db, request):
    """The world once with mailboxes on EWS (on-premises) and once on Graph (Exchange Online)."""
    yield from _world(sandbox, request.param)


@pytest.fixture
def graph_world(sandbox, db):
    """Mailboxes on Graph (Exchange Online) only, for Graph's own faults."""
    yield from _world(sandbox, "graph")


@pytest.fixture
def live_world(sandbox, transactional_db):
    """The same world, committed to the database so that worker processes see it."""
    yield from _world(sandbox)
