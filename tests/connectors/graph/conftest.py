"""The Graph emulator of the connector tests' sandbox (tests/connectors/conftest.py): fresh mailboxes, the
connector, a plain Graph client and the control API. The plain client gets its own token straight from the token
endpoint and never goes through the connector."""

import dataclasses
import itertools
import json
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from sync.connectors.base import GraphSettings
from sync.connectors.graph import GraphMailbox, forget_token_caches

_numbers = itertools.count(1)


@dataclasses.dataclass
class Registration:
    tenant_id: str
    client_id: str
    client_secret: str
    certificate_pem: str


@pytest.fixture(scope="session")
def registration(sandbox, sandbox_dir) -> Registration:
    app = json.loads((sandbox_dir / "graph" / "app.json").read_text())
    pem = Path(app["private_key_path"]).read_text() + Path(app["certificate_path"]).read_text()
    return Registration(app["tenant_id"], app["client_id"], app["client_secret"], pem)


@pytest.fixture(scope="session")
def settings(sandbox, registration) -> GraphSettings:
    return GraphSettings(tenant_id=registration.tenant_id, client_id=registration.client_id,
                         client_secret=registration.client_secret, authority_url=sandbox.graph_url,
                         graph_url=sandbox.graph_url, verify=str(sandbox.ca_path), timeout_seconds=20,
                         max_wait_seconds=2)


@pytest.fixture(autouse=True)
def _fresh_token_caches():
    forget_token_caches()
    yield
    forget_token_caches()


@pytest.fixture
def email(sandbox):
    n = next(_numbers)
    address = f"graph{n}@sandbox.test"
    sandbox.hub.create_user(username=address, email=address, first_name="Gina", last_name=f"User{n}",
                            profile="Standard User")
    return address


@pytest.fixture
def mailbox(settings, email):
    return GraphMailbox(settings, email)


class Plain:
    """Graph as any other client sees it: the user's items, read and written directly."""

    def __init__(self, sandbox, registration: Registration, email: str):
        self.base = f"{sandbox.graph_url}/v1.0/users/{quote(email)}"
        self.session = requests.Session()
        self.session.verify, self.session.trust_env = str(sandbox.ca_path), False
        token = self.session.post(f"{sandbox.graph_url}/{registration.tenant_id}/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": registration.client_id,
            "client_secret": registration.client_secret, "scope": "https://graph.microsoft.com/.default"},
            timeout=20)
        assert token.ok, token.text
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def call(self, method: str, path: str, expect: int | tuple[int, ...] = (200, 201, 204), **kwargs):
        response = self.session.request(method, self.base + path, timeout=20, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        assert response.status_code in expected, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def get(self, path: str, **params):
        return self.call("GET", path, params=params or None)

    def post(self, path: str, body: dict):
        return self.call("POST", path, json=body)

    def patch(self, path: str, body: dict):
        return self.call("PATCH", path, json=body)

    def delete(self, path: str):
        return self.call("DELETE", path)

    # ---- shortcuts -----------------------------------------------------------------------------------------------
    def folder_id(self, name: str = "Salesforce_Sync") -> str | None:
        found = self.get("/contactFolders", **{"$filter": f"displayName eq '{name}'"})["value"]
        return found[0]["id"] if found else None

    def folders(self) -> list[str]:
        return [f["displayName"] for f in self.get("/contactFolders")["value"]]

    def add_contact(self, folder: str | None = "Salesforce_Sync", **props) -> dict:
        props.setdefault("displayName", " ".join(props.get(k, "") for k in ("givenName", "surname")).strip())
        path = f"/contactFolders/{self.folder_id(folder)}/contacts" if folder else "/contacts"
        return self.post(path, props)

    def contacts(self, folder: str = "Salesforce_Sync") -> list[dict]:
        return self.get(f"/contactFolders/{self.folder_id(folder)}/contacts", **{"$top": "1000"})["value"]

    def contact(self, item_id: str, expand: str | None = None) -> dict:
        return self.get(f"/contacts/{item_id}", **({"$expand": expand} if expand else {}))

    def add_event(self, **props) -> dict:
        return self.post("/calendar/events", props)

    def event(self, item_id: str, expand: str | None = None) -> dict:
        return self.call("GET", f"/events/{item_id}", params={"$expand": expand} if expand else None,
                         headers={"Prefer": 'outlook.timezone="UTC"'})

    def task_list(self) -> str:
        return next(x["id"] for x in self.get("/todo/lists")["value"] if x.get("wellknownListName") == "defaultList")

    def add_task(self, **props) -> dict:
        return self.post(f"/todo/lists/{self.task_list()}/tasks", props)

    def tasks(self) -> list[dict]:
        return self.get(f"/todo/lists/{self.task_list()}/tasks", **{"$expand": "linkedResources"})["value"]


@pytest.fixture
def plain(sandbox, registration, email):
    return Plain(sandbox, registration, email)


class Control:
    def __init__(self, base: str, verify: str):
        self.base = base
        self.verify = verify

    def _call(self, method: str, path: str, **kwargs):
        response = requests.request(method, f"{self.base}{path}", timeout=20, verify=self.verify, **kwargs)
        assert response.ok, response.text
        return response.json() if response.content else None

    def stats(self) -> dict:
        return self._call("GET", "/stats")

    def reset_stats(self) -> None:
        self._call("DELETE", "/stats")

    def calls(self, email: str) -> int:
        return self.stats()["calls_by_user"].get(email, 0)

    def fault(self, **fault) -> None:
        self._call("POST", "/faults", json=fault)

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def expire_tokens(self) -> None:
        self._call("POST", "/tokens/expire")

    def expire_delta(self) -> None:
        self._call("POST", "/delta/expire")


@pytest.fixture
def control(sandbox):
    ctl = Control(f"{sandbox.graph_url}/_sandbox", str(sandbox.ca_path))
    yield ctl
    ctl.clear_faults()
