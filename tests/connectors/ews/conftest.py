"""The EWS emulator of the connector tests' sandbox (tests/connectors/conftest.py): fresh mailboxes, the connector,
plain exchangelib and the control API."""

import itertools

import pytest
import requests
from exchangelib import IMPERSONATION, UTC, Account, Build, Configuration, Credentials, FailFast, Version
from exchangelib.transport import BASIC

from sync.connectors.base import EwsSettings
from sync.connectors.ews import EwsMailbox, deregister_salesforce_id, register_salesforce_id

SERVICE = ("sync-service@sandbox.test", "sandbox")
_numbers = itertools.count(1)


@pytest.fixture(autouse=True, scope="module")
def _salesforce_id_registered():
    """The connector registers its extended property on exchangelib's models; leave them as found afterwards."""
    register_salesforce_id()
    yield
    deregister_salesforce_id()


@pytest.fixture(scope="session")
def settings(sandbox):
    return EwsSettings(ews_url=sandbox.ews_endpoint, username=SERVICE[0], password=SERVICE[1],
                            max_wait_seconds=2, timeout_seconds=20)


@pytest.fixture
def email(sandbox):
    n = next(_numbers)
    return sandbox.hub.exchange.create_mailbox(email=f"user{n}@sandbox.test", display_name=f"User {n}")


@pytest.fixture
def mailbox(settings, email):
    return EwsMailbox(settings, email)


@pytest.fixture
def plain(sandbox, email):
    """The same mailbox through unchanged exchangelib (its own protocol: plain credentials, fail fast)."""
    config = Configuration(service_endpoint=sandbox.ews_endpoint, credentials=Credentials(*SERVICE),
                           auth_type=BASIC, version=Version(build=Build(15, 1, 2507)), retry_policy=FailFast())
    return Account(primary_smtp_address=email, config=config, autodiscover=False, access_type=IMPERSONATION,
                   default_timezone=UTC)


class Control:
    def __init__(self, base: str):
        self.base = base

    def stats(self) -> dict:
        return requests.get(f"{self.base}/stats", timeout=10).json()

    def reset_stats(self) -> None:
        requests.delete(f"{self.base}/stats", timeout=10)

    def calls(self, email: str) -> int:
        return self.stats()["calls_by_user"].get(email, 0)

    def fault(self, **fault) -> None:
        response = requests.post(f"{self.base}/faults", json=fault, timeout=10)
        assert response.status_code == 201, response.text

    def clear_faults(self) -> None:
        requests.delete(f"{self.base}/faults", timeout=10)

    def delete_folder(self, email: str, name: str) -> None:
        folders = requests.get(f"{self.base}/mailboxes/{email}", timeout=10).json()["folders"]
        folder = next(f for f in folders if f["name"] == name)
        assert requests.delete(f"{self.base}/mailboxes/{email}/folders/{folder['id']}", timeout=10).ok


@pytest.fixture
def control(sandbox):
    ctl = Control(f"{sandbox.exchange_url}/_sandbox")
    yield ctl
    ctl.clear_faults()
