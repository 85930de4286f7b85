"""Fixtures for the Salesforce emulator: a running sandbox, an HTTPS session that verifies the sandbox CA, users
created through the control API, and simple-salesforce clients logged in through the JWT bearer flow."""

import datetime as dt
import json
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import jwt
import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce

from sandbox.runner import start_sandbox

DATA = Path(__file__).resolve().parents[2] / "data" / "salesforce"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def reference(name: str):
    return json.loads((DATA / name).read_text())


class SalesforceDomains(HTTPAdapter):
    """Sends requests for ``*.salesforce.com`` to the sandbox, as a DNS entry would, so that simple-salesforce's
    own login code (which builds ``https://{domain}.salesforce.com`` URLs) runs unchanged."""

    def __init__(self, target: str):
        super().__init__()
        self.target = urlsplit(target).netloc

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        if parts.hostname and parts.hostname.endswith(".salesforce.com"):
            request.url = urlunsplit((parts.scheme, self.target, parts.path, parts.query, parts.fragment))
            request.headers["Host"] = self.target
        return super().send(request, **kwargs)


class Org:
    """A running sandbox plus helpers to drive it."""

    def __init__(self, running):
        self.running = running
        self.url = running.salesforce_url
        self.ca = str(running.ca_path)
        self.app_dir = running.hub.data_dir / "salesforce" / "connected-app"
        self.consumer_key = (self.app_dir / "consumer-key.txt").read_text().strip()
        self.private_key = (self.app_dir / "private-key.pem").read_bytes()
        self.http = self.session()  # one session for the helpers below
        self.tokens: dict[str, str] = {}  # rest() reuses one token per user

    def session(self) -> requests.Session:
        session = requests.Session()
        session.verify = self.ca
        session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override session.verify
        session.mount("https://", SalesforceDomains(self.url))
        return session

    def control(self, method: str, path: str, body=None, expect: int | None = None):
        response = self.http.request(method, f"{self.url}/_sandbox{path}", json=body)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    def user(self, profile: str = "Standard User", first: str = "Test") -> dict:
        name = uuid.uuid4().hex[:8]
        body = {"username": f"{name}@sandbox.test", "email": f"{name}@sandbox.test", "first_name": first,
                "last_name": f"User{name}", "profile": profile}
        created = self.control("POST", "/users", body, expect=201).json()
        return {**body, "id": created["salesforce_id"]}

    def assertion(self, username: str, **overrides) -> str:
        key = overrides.pop("key", None) or self.private_key
        claims = {"iss": self.consumer_key, "sub": username, "aud": "https://login.salesforce.com",
                  "exp": int((dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3)).timestamp())}
        claims.update(overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(claims, key, algorithm="RS256")

    def token(self, username: str) -> str:
        response = self.http.post(f"{self.url}/services/oauth2/token",
                                       data={"grant_type": JWT_GRANT, "assertion": self.assertion(username)})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def sf(self, user: dict | str, version: str = "59.0") -> Salesforce:
        username = user if isinstance(user, str) else user["username"]
        return Salesforce(instance_url=self.url, session_id=self.token(username), session=self.session(),
                          version=version)

    def rest(self, user, method: str, path: str, **kwargs) -> requests.Response:
        """Plain HTTP for what simple-salesforce has no method for (and to see raw status codes and headers)."""
        if isinstance(user, str) and "!" in user:
            token = user  # an access token
        else:
            username = user if isinstance(user, str) else user["username"]
            if username not in self.tokens:
                self.tokens[username] = self.token(username)
            token = self.tokens[username]
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.url}/services/data/v59.0{path}", headers=headers, **kwargs)


@pytest.fixture(scope="session")
def org(tmp_path_factory):
    """One sandbox (empty seed) shared by the tests that create their own users and records."""
    running = start_sandbox(tmp_path_factory.mktemp("sf-shared"), seed="empty")
    yield Org(running)
    running.stop()


@pytest.fixture(scope="module")
def fresh_org(tmp_path_factory):
    """A sandbox of its own, for tests that count, fault or change org-wide settings."""
    running = start_sandbox(tmp_path_factory.mktemp("sf-fresh"), seed="empty")
    yield Org(running)
    running.stop()
