"""A connection never sends to a link-local, cloud metadata, unspecified or multicast address: the URL is refused
when saved (also when its name resolves to such an address), and each connector checks again before its request
and on the address it actually reaches (a name may resolve elsewhere later). Private and loopback addresses stay
allowed: on-premises Exchange lives on the former, the sandbox on the latter."""

import http.server
import ipaddress
import socket
import threading

import pytest

from sync.connections import check_connection
from sync.connectors import base
from sync.connectors.base import NeedsAttention, destination_problem, forbidden_address
from sync.connectors.graph.errors import classify as classify_graph
from sync.error_words import describe_error
from sync.models import Connection
from tests.factories import make_user
from tests.sync.test_connections_api import private_key_pem
from users.services import set_exchange_route


@pytest.mark.parametrize(("address", "reason"), [
    ("169.254.169.254", "a cloud metadata address"),
    ("fd00:ec2::254", "a cloud metadata address"),
    ("100.100.100.200", "a cloud metadata address"),
    ("::ffff:169.254.169.254", "a cloud metadata address"),
    ("64:ff9b::a9fe:a9fe", "a cloud metadata address"),
    ("2002:a9fe:a9fe::1", "a cloud metadata address"),
    ("169.254.10.1", "a link-local address"),
    ("fe80::1%eth0", "a link-local address"),
    ("0.0.0.0", "an unspecified address"),  # noqa: S104 - an address refused, not bound
    ("0.1.2.3", "an unspecified address"),
    ("::", "an unspecified address"),
    ("224.0.0.251", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("255.255.255.255", "a broadcast address"),
])
def test_forbidden_addresses(address, reason):
    assert forbidden_address(address) == reason


@pytest.mark.parametrize("address", ["10.0.0.5", "172.16.4.4", "192.168.1.20", "127.0.0.1", "::1", "fd12:3456::1",
                                     "20.190.160.1", "2603:1026::1"])
def test_private_public_and_loopback_addresses_are_allowed(address):
    assert forbidden_address(address) is None


def resolving(monkeypatch, answers: dict[str, str]):
    """Make names resolve to the given addresses (and no other name resolve). The patch is process-wide: an address
    written as such (the test database's, the cache's 127.0.0.1) still works."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
            return real(host, port, *args, **kwargs)
        family = socket.AF_INET6 if ":" in answers[host] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (answers[host], port))]
    monkeypatch.setattr(base.socket, "getaddrinfo", getaddrinfo)


def test_names_are_checked_by_what_they_resolve_to(monkeypatch):
    resolving(monkeypatch, {"mail.example.com": "10.0.0.5", "rebind.example.com": "169.254.169.254"})
    assert destination_problem("https://mail.example.com/EWS/Exchange.asmx") is None
    assert destination_problem("https://rebind.example.com/") == \
        "rebind.example.com resolves to 169.254.169.254, a cloud metadata address"
    assert destination_problem("https://unknown.example.com/") is None  # cannot be reached either
    assert destination_problem("https://metadata.google.internal./computeMetadata/v1/") == \
        "metadata.google.internal is a cloud metadata service"


def test_numeric_spellings_of_an_address_are_resolved():
    assert destination_problem("https://2852039166/") == "2852039166 resolves to 169.254.169.254, a cloud metadata " \
                                                         "address"
    assert destination_problem("https://[::ffff:a9fe:a9fe]/") == "::ffff:a9fe:a9fe is a cloud metadata address"


URL = "/api/v1/connections/"


@pytest.mark.django_db
@pytest.mark.parametrize(("kind", "field", "url"), [
    ("exchange", "url", "https://169.254.169.254/EWS/Exchange.asmx"),
    ("exchange", "url", "https://[fd00:ec2::254]/EWS/Exchange.asmx"),
    ("exchange", "url", "https://metadata.google.internal/EWS/Exchange.asmx"),
    ("exchange", "url", "https://0.0.0.0/EWS/Exchange.asmx"),
    ("exchange", "url", "https://224.0.0.1/EWS/Exchange.asmx"),
    ("exchange", "url", "https://rebind.example.com/EWS/Exchange.asmx"),
    ("salesforce", "url", "https://100.100.100.200"),
    ("graph", "authority_url", "https://[fe80::1]"),
    ("graph", "url", "https://rebind.example.com"),
])
def test_saving_refuses_forbidden_destinations(admin_client_api, monkeypatch, kind, field, url):
    resolving(monkeypatch, {"rebind.example.com": "169.254.169.254"})
    body = {"exchange": {"url": "https://mail.example.com/EWS/Exchange.asmx", "username": "svc", "secret": "pw"},
            "salesforce": {"url": "https://login.salesforce.com", "client_id": "3MVG9", "secret": private_key_pem()},
            "graph": {"tenant_id": "contoso", "client_id": "app", "secret": "s3cret"}}[kind]
    response = admin_client_api.put(f"{URL}{kind}/", {**body, field: url}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    message = response.json()[field][0]
    assert "a connection may not point at link-local, cloud metadata, unspecified or multicast addresses" in message
    assert not Connection.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["https://10.0.0.5/EWS/Exchange.asmx", "https://exchange.corp.example/EWS/Exchange.asmx",
                                 "http://127.0.0.1:8444/EWS/Exchange.asmx"])
def test_private_and_loopback_destinations_are_saved(admin_client_api, monkeypatch, url):
    resolving(monkeypatch, {"exchange.corp.example": "192.168.10.4"})
    response = admin_client_api.put(f"{URL}exchange/", {"url": url, "username": "svc", "secret": "pw"},
                                    format="json")
    assert response.status_code == 200, response.content


@pytest.fixture
def local_server():
    """A local HTTP server counting the requests it receives."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            seen.append(self.path)
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_port}", seen
    server.shutdown()
    server.server_close()


def _saved_before_the_rule(kind: str, **fields) -> None:
    """A row written without the save rules (as before them), the way a name that changed its answer looks."""
    connection = Connection(kind=kind, **fields)
    connection.set_secret(private_key_pem() if kind == "salesforce" else "s3cret")
    connection.save()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["salesforce", "exchange", "graph"])
def test_each_connector_checks_the_name_again_before_sending(monkeypatch, local_server, kind):
    address, seen = local_server
    resolving(monkeypatch, {"rebind.example.com": "169.254.169.254"})
    port = address.split(":")[1]
    url = f"https://rebind.example.com:{port}"
    _saved_before_the_rule(kind, url=f"{url}/EWS/Exchange.asmx" if kind == "exchange" else url, username="svc",
                           client_id="app", tenant_id="contoso", authority_url=url,
                           auth_type="client_secret" if kind == "graph" else "basic")
    user = make_user("ann@example.com", email="ann@example.com")
    if kind == "graph":
        set_exchange_route(user, "graph")
    result = check_connection(kind)
    assert result["ok"] is False
    assert result["detail"].startswith("Nothing was sent: rebind.example.com resolves to 169.254.169.254, a cloud "
                                       "metadata address."), result
    assert seen == []


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["salesforce", "exchange", "graph"])
def test_each_connector_refuses_a_forbidden_address_it_reaches(monkeypatch, local_server, kind):
    """The name passed every check, then (rebinding) led to a forbidden address: refused once connected, before
    anything (a credential, a token request) is sent. Here 127.0.0.1 plays the forbidden address."""
    address, seen = local_server
    monkeypatch.setattr(base, "destination_problem", lambda url, **kwargs: None)
    real = base.forbidden_address
    monkeypatch.setattr(base, "forbidden_address", lambda a: "a link-local address" if a == "127.0.0.1" else real(a))
    url = f"http://{address}"
    _saved_before_the_rule(kind, url=f"{url}/EWS/Exchange.asmx" if kind == "exchange" else url, username="svc",
                           client_id="app", tenant_id="contoso", authority_url=url.replace("http:", "https:"),
                           auth_type="client_secret" if kind == "graph" else "basic")
    user = make_user("ann@example.com", email="ann@example.com")
    if kind == "graph":
        set_exchange_route(user, "graph")
    result = check_connection(kind)
    assert result["ok"] is False
    assert result["detail"].startswith("Nothing was sent: 127.0.0.1 resolved to 127.0.0.1, a link-local "
                                       "address."), result
    assert seen == []


def test_an_ends_own_text_is_not_what_a_person_reads():
    error = classify_graph(403, {"error": {"code": "Forbidden", "message": "<html>intranet: key=abc123</html>"}})
    assert isinstance(error, NeedsAttention)
    text = describe_error(error)
    assert "abc123" not in text and "intranet" not in text
    assert text.startswith("Microsoft Graph refused the app access to this mailbox (HTTP 403, code Forbidden). "
                           "Grant the app registration")
    odd = NeedsAttention("sentence in a code", "remote text", "Check it.")
    assert describe_error(odd) == "The request was refused (code sentenceinacode). Check it."
