"""Fixtures for the Salesforce connector: the connector tests' sandbox (tests/connectors/conftest.py), users made
through its control API, connector settings read from its data dir, and a plain simple-salesforce client to arrange
data "from outside"."""

import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import requests
from simple_salesforce import Salesforce

from sync.connectors.base import ObjectOptions, SalesforceSettings
from sync.connectors.salesforce import SalesforceClient, TokenCache, request_token


@dataclass
class SandboxUser:
    id: str
    username: str
    email: str
    profile: str


class Org:
    def __init__(self, running):
        self.running = running
        self.url = running.salesforce_url
        app_dir = Path(running.hub.data_dir) / "salesforce" / "connected-app"
        self.settings = SalesforceSettings(
            login_url=self.url,
            consumer_key=(app_dir / "consumer-key.txt").read_text().strip(),
            private_key_pem=(app_dir / "private-key.pem").read_text(),
            api_version="62.0",
            verify=str(running.ca_path),
            timeout_seconds=10.0,
        )

    def http(self) -> requests.Session:
        session = requests.Session()
        session.verify = self.settings.verify
        session.trust_env = False  # REQUESTS_CA_BUNDLE would override the sandbox CA
        return session

    def control(self, method: str, path: str, body=None, expect: int | None = None):
        response = self.http().request(method, f"{self.url}/_sandbox{path}", json=body)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    def fault(self, operation: str, status: int, error_code: str | None = None, count: int | None = 1,
              latency_ms: int = 0) -> None:
        self.control("POST", "/faults", {"operation": operation, "status": status, "error_code": error_code,
                                         "count": count, "latency_ms": latency_ms}, expect=201)

    def stats(self) -> dict:
        return self.control("GET", "/stats", expect=200).json()

    def calls_of(self, user: SandboxUser) -> int:
        return self.stats()["calls_by_user"].get(user.username, 0)

    def user(self, profile: str = "Standard User") -> SandboxUser:
        name = uuid.uuid4().hex[:10]
        body = {"username": f"{name}@sandbox.test", "email": f"{name}@sandbox.test", "first_name": "Test",
                "last_name": f"User{name}", "profile": profile}
        created = self.control("POST", "/users", body, expect=201).json()
        return SandboxUser(created["salesforce_id"], body["username"], body["email"], profile)

    def client(self, user: SandboxUser | str, **overrides) -> SalesforceClient:
        """A connector client with a token cache of its own (tests stay independent of one another)."""
        username = user if isinstance(user, str) else user.username
        return SalesforceClient(replace(self.settings, **overrides), username, tokens=TokenCache())

    def sf(self, user: SandboxUser) -> Salesforce:
        """simple-salesforce as `user`, to arrange and inspect data outside the connector."""
        token = request_token(self.settings, user.username, self.http())
        return Salesforce(instance_url=token.instance_url, session_id=token.access_token, session=self.http(),
                          version="62.0")


def owned_by(user: SandboxUser, extra: str = "") -> ObjectOptions:
    where = f"OwnerId = '{user.id}'" + (f" AND {extra}" if extra else "")
    return ObjectOptions(where=where)


@pytest.fixture(scope="session")
def org(sandbox):
    return Org(sandbox)


@pytest.fixture(autouse=True)
def _no_faults_left(org):
    yield
    org.control("DELETE", "/faults", expect=200)
    org.control("POST", "/settings", {"api_usage": 0}, expect=200)


@pytest.fixture
def user(org) -> SandboxUser:
    return org.user()
