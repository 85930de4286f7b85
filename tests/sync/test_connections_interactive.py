"""Interactive tests of a connection (the Connections page's and the API's "Test", a user's "Test connection"): they
end within INTERACTIVE_SECONDS even when the end never answers, never wait on a retry back-off or a Retry-After,
refuse a second test of the same connection or user while one is under way (409), and answer in our words with the
end's code, never the end's own text."""

import http.server
import json
import socket
import threading
import time
from contextlib import contextmanager

import pytest

from sync import connections
from sync.connections import ConnectionTestBusy, check_connection, one_test_at_a_time, save_connection
from sync.connectors.base import (
    INTERACTIVE_SECONDS,
    GraphSettings,
    TransientError,
    interactive,
    request_timeout,
)
from sync.connectors.graph.transport import GraphTransport
from sync.models import Connection
from tests.factories import make_user
from tests.sync.test_connections_api import private_key_pem
from users import operations
from users.services import set_exchange_route

pytestmark = pytest.mark.django_db
BOUND = INTERACTIVE_SECONDS + 0.75  # the deadline, plus what the check itself costs around the requests


@pytest.fixture
def silent_port():
    """A local listening socket that accepts connections (the kernel does) and never answers a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    yield server.getsockname()[1]
    server.close()


@contextmanager
def answering(status: int, body: bytes, headers: dict | None = None):
    """A local HTTP server answering every request with `status` and `body`; yields (base URL, requests seen)."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self):
            seen.append(f"{self.command} {self.path}")
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def point_every_connection_at(base: str) -> None:
    save_connection("salesforce", url=base, client_id="3MVG9key", username="int@example.com",
                    secret=private_key_pem())
    save_connection("exchange", url=f"{base}/EWS/Exchange.asmx", username="svc@example.com", secret="pw")
    save_connection("graph", url=base, authority_url=base, tenant_id="contoso", client_id="app", secret="s3cret",
                    mailbox_routing="users")


@pytest.fixture
def routed_users():
    on_premises = make_user("ann@example.com", email="ann@example.com")
    online = make_user("bob@example.com", email="bob@example.com")
    set_exchange_route(online, "graph")
    return on_premises, online


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


# ---- a server that never answers: the test still ends within the bound ----------------------------------------------


def test_a_salesforce_test_against_a_silent_server_ends_within_the_bound(silent_port):
    point_every_connection_at(f"http://127.0.0.1:{silent_port}")
    result, elapsed = timed(lambda: check_connection("salesforce"))
    assert elapsed <= BOUND, elapsed
    assert result == {"ok": False, "detail": "No answer in time (a test waits at most 10 seconds): check that the "
                                             "URL is right and that this server can reach it, then test again."}


@pytest.mark.parametrize("kind", ["exchange", "graph"])
def test_exchange_tests_against_a_silent_server_end_within_the_bound(silent_port, routed_users, monkeypatch, kind):
    # The same deadline, shortened so that the two protocols cost seconds, not twenty.
    monkeypatch.setattr(connections, "INTERACTIVE_SECONDS", 3.0)
    # https: msal accepts no other authority, and a TLS handshake that never ends must be cut short too.
    point_every_connection_at(f"{'https' if kind == 'graph' else 'http'}://127.0.0.1:{silent_port}")
    result, elapsed = timed(lambda: check_connection(kind))
    assert elapsed <= 3.75, elapsed
    assert result["ok"] is False and result["detail"].startswith("No answer in time (a test waits at most 3 "), result


def test_a_users_test_against_silent_ends_ends_within_the_bound(silent_port, routed_users):
    """Half of the bound for each end: both are answered, together within the bound."""
    point_every_connection_at(f"http://127.0.0.1:{silent_port}")
    result, elapsed = timed(lambda: operations.test_connection(routed_users[0]))
    assert elapsed <= BOUND, elapsed
    assert result["salesforce"]["detail"].startswith("No answer in time (a test waits at most 5 "), result
    assert result["exchange"]["detail"].startswith("No answer in time (a test waits at most 5 "), result
    assert result["exchange"]["protocol"] == "ews"


def test_the_deadline_is_the_tests_only():
    """Outside an interactive test a connector keeps its own (longer) timeouts: a sync run is not cut short."""
    assert request_timeout(30.0) == 30.0
    with interactive(4.0) as deadline:
        connect, read = request_timeout(30.0)
        assert connect + read <= 4.0 and connect <= deadline.connect_seconds
    assert request_timeout(30.0) == 30.0


# ---- no retry waits --------------------------------------------------------------------------------------------------


def test_a_retry_after_is_not_waited_for_in_a_test():
    body = json.dumps({"error": {"code": "TooManyRequests", "message": "Slow down"}}).encode()
    with answering(429, body, {"Retry-After": "8"}) as (base, seen):
        transport = GraphTransport(GraphSettings(tenant_id="t", client_id="c", client_secret="s", graph_url=base,
                                                 authority_url=base, max_wait_seconds=30))
        transport._access_token = lambda **kwargs: "token"  # the token is not what this is about
        with interactive(), pytest.raises(TransientError) as failure:
            started = time.monotonic()
            transport.send("GET", "/users/a@example.com/contactFolders", "contactFolders")
        assert time.monotonic() - started < 2, "a test waited on Retry-After"
        assert failure.value.code == "TooManyRequests" and len(seen) == 1


def test_an_ews_test_does_not_back_off_on_a_busy_server(routed_users):
    with answering(503, b"busy", {"Retry-After": "8", "Content-Type": "text/plain"}) as (base, seen):
        save_connection("exchange", url=f"{base}/EWS/Exchange.asmx", username="svc@example.com", secret="pw")
        result, elapsed = timed(lambda: check_connection("exchange"))
    assert elapsed < 3, elapsed
    assert result["ok"] is False and len(seen) == 1, (result, seen)


# ---- one test at a time ----------------------------------------------------------------------------------------------


def test_a_second_test_of_the_same_connection_is_refused_with_409(admin_client_api, support_client_api):
    with one_test_at_a_time("connection-salesforce", "A test of the Salesforce org connection is already under way."):
        response = support_client_api.post("/api/v1/connections/salesforce/test/")
        assert response.status_code == 409
        assert response.json() == {"detail": "A test of the Salesforce org connection is already under way: wait "
                                             "for its answer, then test again."}
        assert admin_client_api.post("/api/v1/connections/graph/test/").status_code == 200  # another connection
    assert support_client_api.post("/api/v1/connections/salesforce/test/").status_code == 200  # released


def test_the_console_says_a_test_is_under_way(client, support_user):
    client.force_login(support_user)
    with one_test_at_a_time("connection-exchange", "busy"):
        page = client.post("/sync/connections/", {"kind": "exchange", "test": "1"})
    assert page.status_code == 409
    assert "Not tested." in page.content.decode() and "already under way" in page.content.decode()


def test_a_second_test_of_the_same_user_is_refused_with_409(admin_client_api, client, support_user, routed_users):
    ann, bob = routed_users
    with one_test_at_a_time(f"user-{ann.pk}", "busy"):
        response = admin_client_api.post(f"/api/v1/users/{ann.pk}/test-connection/")
        assert response.status_code == 409 and "already under way" in response.json()["detail"]
        assert admin_client_api.post(f"/api/v1/users/{bob.pk}/test-connection/").status_code == 200
        client.force_login(support_user)
        page = client.post(f"/users/{ann.pk}/test-connection/")
        assert page.status_code == 409 and "already under way" in page.content.decode()
        partial = client.post(f"/users/{ann.pk}/test-connection/", HTTP_HX_REQUEST="true")
        assert partial.status_code == 200 and "already under way" in partial.content.decode()  # htmx swaps it


def test_the_lock_is_held_across_processes_of_the_machine(tmp_path, settings):
    """A file lock: another open of the same lock (as another process would) is refused until it is released."""
    settings.VAR_DIR = tmp_path
    with (one_test_at_a_time("connection-graph", "busy"), pytest.raises(ConnectionTestBusy),
          one_test_at_a_time("connection-graph", "busy")):
        pass
    with one_test_at_a_time("connection-graph", "busy"):
        pass


# ---- our words and the end's code, never the end's text ------------------------------------------------------------


def test_a_refusal_names_the_code_not_the_ends_text():
    body = json.dumps({"error": "invalid_grant",
                       "error_description": "internal-service-body: db password is hunter2"}).encode()
    with answering(400, body) as (base, seen):
        save_connection("salesforce", url=base, client_id="3MVG9key", username="int@example.com",
                        secret=private_key_pem())
        result = check_connection("salesforce")
    assert len(seen) == 1 and seen[0].startswith("POST /services/oauth2/token")
    assert result["ok"] is False and "(code invalid_grant)" in result["detail"], result
    assert "hunter2" not in result["detail"] and "internal-service-body" not in result["detail"]


def test_an_unreadable_answer_is_not_shown_either(routed_users):
    with answering(500, b"<html>internal admin panel: secret-token-123</html>",
                   {"Content-Type": "text/html"}) as (base, seen):
        save_connection("exchange", url=f"{base}/EWS/Exchange.asmx", username="svc@example.com", secret="pw")
        result = check_connection("exchange")
    assert result["ok"] is False and seen, result
    assert "secret-token-123" not in result["detail"] and "internal admin panel" not in result["detail"], result


def test_our_own_sentences_are_kept():
    result = check_connection("graph")
    assert result == {"ok": False, "detail": "No Microsoft Graph connection is configured. Enter it on the "
                                             "Connections page (for the sandbox: python manage.py connect_sandbox)."}
    assert not Connection.objects.exists()
