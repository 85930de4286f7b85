"""Fixtures for the EWS emulator tests: one running sandbox, fresh mailboxes, exchangelib accounts, and a check that
every response the emulator sends validates against the official EWS schema."""

import itertools
import shutil
import threading
from pathlib import Path

import pytest
import requests
from exchangelib import IMPERSONATION, Account, Build, Configuration, Credentials, Version
from exchangelib.transport import BASIC
from lxml import etree

from sandbox.runner import start_sandbox

DATA = Path(__file__).resolve().parents[2] / "data" / "ews"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
ERRORS = "http://schemas.microsoft.com/exchange/services/2006/errors"
SERVICE = ("sync-service@sandbox.test", "sandbox")


def load_schema(scratch: Path) -> etree.XMLSchema:
    """The recipe from the reference README: scratch copy, schemaLocation on the xml import, load messages.xsd."""
    for name in ("messages.xsd", "types.xsd", "xml.xsd"):
        shutil.copy(DATA / "schema" / name, scratch / name)
    types = (scratch / "types.xsd").read_text(encoding="utf-8")
    types = types.replace('<xs:import namespace="http://www.w3.org/XML/1998/namespace"/>',
                          '<xs:import namespace="http://www.w3.org/XML/1998/namespace" schemaLocation="xml.xsd"/>')
    (scratch / "types.xsd").write_text(types, encoding="utf-8")
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(scratch / "messages.xsd"), parser))


class ResponseChecker:
    """Validates each response body the emulator produces; collects problems for the per-test assertion."""

    def __init__(self, schema: etree.XMLSchema):
        self.schema = schema
        self.lock = threading.Lock()
        self.problems: list[str] = []
        self.validated = 0
        self.faults = 0

    def __call__(self, operation: str, status: int, body: bytes) -> None:
        try:
            root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as e:
            if status == 500 and b"Server Error in '/EWS' Application" in body:  # an injected bare HTTP 500
                return
            self._problem(f"{operation}: response is not XML: {e}")
            return
        soap_body = root.find(f"{{{SOAP}}}Body")
        if root.tag != f"{{{SOAP}}}Envelope" or soap_body is None or len(soap_body) != 1:
            self._problem(f"{operation}: not a SOAP envelope with one body child")
            return
        payload = soap_body[0]
        if payload.tag == f"{{{SOAP}}}Fault":
            code = payload.find(f"detail/{{{ERRORS}}}ResponseCode")
            if status != 500 or payload.find("faultcode") is None or payload.find("faultstring") is None \
                    or code is None or not code.text:
                self._problem(f"{operation}: malformed SOAP fault (HTTP {status})")
            with self.lock:
                self.faults += 1
            return
        with self.lock:
            ok = self.schema.validate(etree.ElementTree(etree.fromstring(etree.tostring(payload))))
            error = None if ok else str(self.schema.error_log.last_error)[:600]
            self.validated += 1
        if status != 200 or not ok:
            self._problem(f"{operation}: HTTP {status}; schema: {error}")

    def _problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)


@pytest.fixture(scope="session")
def response_checker(tmp_path_factory):
    return ResponseChecker(load_schema(tmp_path_factory.mktemp("ews-schema")))


@pytest.fixture(scope="session")
def spawn(response_checker):
    """Start another sandbox whose responses are validated too: spawn(data_dir, seed=..., exchange_https=...)."""

    def _spawn(data_dir, **kwargs):
        running = start_sandbox(data_dir, **kwargs)
        running.hub.exchange.response_observers.append(response_checker)
        return running

    return _spawn


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory, spawn):
    running = spawn(tmp_path_factory.mktemp("ews-sandbox"), seed="empty")
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _responses_validate(request, response_checker):
    """Every response body produced while a test runs validates against the EWS schema."""
    with response_checker.lock:
        response_checker.problems.clear()
    yield
    with response_checker.lock:
        problems = list(response_checker.problems)
    assert not problems, "invalid EWS responses:\n" + "\n".join(problems)


_counter = itertools.count(1)


@pytest.fixture
def mailbox(sandbox):
    """A fresh, empty mailbox for one test."""
    n = next(_counter)
    return sandbox.hub.exchange.create_mailbox(email=f"tester{n}@sandbox.test", display_name=f"Tester {n}")


def make_account(sandbox, mailbox, credentials=SERVICE, access_type=IMPERSONATION, tz=None) -> Account:
    config = Configuration(
        service_endpoint=sandbox.ews_endpoint, credentials=Credentials(*credentials), auth_type=BASIC,
        version=Version(build=Build(15, 1, 2507, 6)),
    )
    kwargs = {"default_timezone": tz} if tz else {}
    return Account(primary_smtp_address=mailbox, config=config, autodiscover=False, access_type=access_type,
                   **kwargs)


@pytest.fixture
def account(sandbox, mailbox):
    return make_account(sandbox, mailbox)


@pytest.fixture
def control(sandbox):
    base = f"{sandbox.exchange_url}/_sandbox"

    class Control:
        def post(self, path, json=None):
            return requests.post(base + path, json=json, timeout=30)

        def get(self, path):
            return requests.get(base + path, timeout=30)

        def delete(self, path):
            return requests.delete(base + path, timeout=30)

    yield Control()
    requests.delete(base + "/faults", timeout=30)
