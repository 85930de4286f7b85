"""Fixtures for the Graph emulator: a running sandbox, msal tokens obtained against it over HTTPS with the sandbox
CA, and a small Graph client on requests for fresh mailboxes."""

import json
import uuid
from pathlib import Path

import msal
import pytest
import requests

from sandbox.runner import start_sandbox

SCOPE = ["https://graph.microsoft.com/.default"]
SF_ID_PROP = "String {8d2f4c61-3a7e-4b0c-9f15-5e7d2a9c0b43} Name SalesforceId"


def https_session(ca: Path) -> requests.Session:
    session = requests.Session()
    session.verify = str(ca)
    session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override session.verify
    return session


class Tenant:
    """A running sandbox's Graph side: its app registration, msal, the control API, and Graph calls."""

    def __init__(self, running):
        self.running = running
        self.url = running.graph_url
        self.app = json.loads(running.graph_app_path.read_text())
        self.http = https_session(running.ca_path)
        self._token = None

    def msal_app(self, credential=None, client_id=None, tenant=None) -> msal.ConfidentialClientApplication:
        return msal.ConfidentialClientApplication(
            client_id or self.app["client_id"], authority=f"{self.url}/{tenant or self.app['tenant_id']}",
            client_credential=credential if credential is not None else self.app["client_secret"],
            http_client=https_session(self.running.ca_path), instance_discovery=False)

    def token(self, fresh: bool = False) -> str:
        if self._token is None or fresh:
            result = self.msal_app().acquire_token_for_client(SCOPE)
            assert "access_token" in result, result
            self._token = result["access_token"]
        return self._token

    def control(self, method: str, path: str, body=None, expect: int | None = None):
        response = self.http.request(method, f"{self.url}/_sandbox{path}", json=body, timeout=30)
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    def call(self, method: str, path: str, *, token: str | None = None, headers=None, **kwargs):
        """A Graph request; ``path`` is relative to /v1.0/ (or a full URL such as a nextLink)."""
        url = path if path.startswith("https://") else f"{self.url}/v1.0/{path.lstrip('/')}"
        all_headers = {"Authorization": f"Bearer {token or self.token()}", **(headers or {})}
        response = self.http.request(method, url, headers=all_headers, timeout=30, **kwargs)
        if response.status_code == 401 and token is None:  # a test before may have expired every token
            all_headers["Authorization"] = f"Bearer {self.token(fresh=True)}"
            response = self.http.request(method, url, headers=all_headers, timeout=30, **kwargs)
        return response

    def user(self) -> str:
        name = uuid.uuid4().hex[:8]
        body = {"username": f"g{name}@sandbox.test", "email": f"g{name}@sandbox.test", "first_name": "Graph",
                "last_name": f"Tester{name}", "profile": "Standard User"}
        self.control("POST", "/users", body, expect=201)
        return body["email"]


@pytest.fixture(scope="session")
def running(tmp_path_factory):
    sandbox = start_sandbox(tmp_path_factory.mktemp("graph-sandbox"), seed="demo")
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="session")
def tenant(running):
    return Tenant(running)


@pytest.fixture
def upn(tenant):
    """A fresh, empty mailbox."""
    return tenant.user()


@pytest.fixture(autouse=True)
def _no_faults_left(tenant):
    yield
    tenant.control("DELETE", "/faults")


class Mailbox:
    """Graph calls scoped to one user: ``mb.get("contacts")`` is GET /v1.0/users/{upn}/contacts."""

    def __init__(self, tenant: Tenant, upn: str):
        self.tenant, self.upn = tenant, upn

    def __getattr__(self, method):
        if method not in ("get", "post", "patch", "delete"):
            raise AttributeError(method)

        def call(path, **kwargs):
            if path.startswith("https://"):
                return self.tenant.call(method.upper(), path, **kwargs)
            return self.tenant.call(method.upper(), f"users/{self.upn}/{path}", **kwargs)

        return call

    def ok(self, method: str, path: str, status: int = 200, **kwargs) -> dict:
        response = getattr(self, method)(path, **kwargs)
        assert response.status_code == status, response.text
        return response.json() if response.content else {}


@pytest.fixture
def mb(tenant, upn):
    return Mailbox(tenant, upn)


def error_code(response) -> str:
    return response.json()["error"]["code"]
