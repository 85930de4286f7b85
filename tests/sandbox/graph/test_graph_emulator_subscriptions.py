"""Change notification subscriptions in the Graph emulator: the validation handshake, create/renew/delete/list,
notifications for contacts, events and To Do tasks changed through the REST routes, retries, lifecycle
notifications and expiry. A small http.server receiver on loopback takes the notifications."""

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.sandbox.graph.conftest import error_code


class Receiver:
    """A notification endpoint: answers the handshake (unless told not to), records every notification, and
    answers ``fail_next`` notification POSTs with 503 before accepting again."""

    def __init__(self, *, handshake: str = "echo", handshake_delay: float = 0.0):
        self.handshake = handshake  # echo | refuse | wrong
        self.handshake_delay = handshake_delay
        self.answered = threading.Event()  # set once the (delayed) handshake answer is written
        self.validations: list[str] = []
        self.notifications: list[dict] = []
        self.batches: list[list[dict]] = []  # each accepted POST's value
        self.posts = 0
        self.fail_next = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                query = parse_qs(urlsplit(self.path).query)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if "validationToken" in query:
                    token = query["validationToken"][0]
                    receiver.validations.append(token)
                    if receiver.handshake == "refuse":
                        return self._answer(403, b"no", "text/plain")
                    receiver.answered.wait(receiver.handshake_delay)  # a slow receiver, ended early by close()
                    return self._answer(200, (token + "x" if receiver.handshake == "wrong" else token).encode(),
                                        "text/plain; charset=utf-8")
                with receiver.lock:
                    receiver.posts += 1
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                        return self._answer(503, b"", "text/plain")
                    receiver.batches.append(json.loads(body)["value"])
                    receiver.notifications.extend(receiver.batches[-1])
                return self._answer(202, b"", "text/plain")

            def _answer(self, status, payload, content_type):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, predicate, timeout: float = 15.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [n for n in self.notifications if predicate(n)]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no matching notification within {timeout} s; received {self.notifications}")

    def close(self):
        self.answered.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def in_minutes(minutes: float) -> str:
    return (datetime.now(UTC) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def subscribe(tenant, resource: str, url: str, *, change_type="created,updated,deleted", minutes=60.0, **extra):
    return tenant.call("POST", "subscriptions", json={"changeType": change_type, "notificationUrl": url,
                                                      "resource": resource, "expirationDateTime": in_minutes(minutes),
                                                      "clientState": "s3cret-state", **extra})


def user_id(tenant, upn: str) -> str:
    return tenant.call("GET", f"users/{upn}").json()["id"]


def test_create_get_list_renew_delete(tenant, upn, receiver):
    response = subscribe(tenant, f"users/{upn}/contacts", receiver.url, change_type="created",
                         latestSupportedTlsVersion="v1_3")
    assert response.status_code == 201, response.text
    sub = response.json()
    assert len(receiver.validations) == 1  # the handshake happened before the answer
    assert sub["changeType"] == "created" and sub["clientState"] == "s3cret-state"
    assert sub["resource"] == f"users/{upn}/contacts" and sub["notificationUrl"] == receiver.url
    assert sub["latestSupportedTlsVersion"] == "v1_3" and sub["applicationId"] == tenant.app["client_id"]

    assert tenant.call("GET", f"subscriptions/{sub['id']}").json()["expirationDateTime"] == sub["expirationDateTime"]
    assert sub["id"] in [s["id"] for s in tenant.call("GET", "subscriptions").json()["value"]]

    renewed = tenant.call("PATCH", f"subscriptions/{sub['id']}", json={"expirationDateTime": in_minutes(4000)})
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["expirationDateTime"] > sub["expirationDateTime"]
    too_far = tenant.call("PATCH", f"subscriptions/{sub['id']}", json={"expirationDateTime": in_minutes(4300)})
    assert too_far.status_code == 400 and "4230 minutes" in too_far.json()["error"]["message"]
    assert tenant.call("POST", f"subscriptions/{sub['id']}/reauthorize").status_code == 204

    stats = tenant.control("GET", "/stats", expect=200).json()
    assert stats["calls"]["POST subscriptions"] >= 1 and stats["calls"]["PATCH subscriptions/{id}"] >= 2

    assert tenant.call("DELETE", f"subscriptions/{sub['id']}").status_code == 204
    gone = tenant.call("GET", f"subscriptions/{sub['id']}")
    assert gone.status_code == 404 and error_code(gone) == "ResourceNotFound"
    assert sub["id"] not in [s["id"] for s in tenant.call("GET", "subscriptions").json()["value"]]


@pytest.mark.parametrize("handshake", ["refuse", "wrong"])
def test_failed_handshake_refuses_the_subscription(tenant, upn, handshake):
    bad = Receiver(handshake=handshake)
    try:
        response = subscribe(tenant, f"users/{upn}/contacts", bad.url)
        assert response.status_code == 400
        assert "Subscription validation request failed" in response.json()["error"]["message"]
        assert bad.validations
    finally:
        bad.close()
    assert not [s for s in tenant.call("GET", "subscriptions").json()["value"] if s["notificationUrl"] == bad.url]


def test_bad_requests(tenant, upn, receiver):
    unreachable = subscribe(tenant, f"users/{upn}/contacts", "http://127.0.0.1:9/nobody-listens")
    assert unreachable.status_code == 400 and "validation" in unreachable.json()["error"]["message"]
    public_http = subscribe(tenant, f"users/{upn}/contacts", "http://example.com/notify")
    assert public_http.status_code == 400 and "https" in public_http.json()["error"]["message"]
    past = subscribe(tenant, f"users/{upn}/contacts", receiver.url, minutes=-5)
    assert past.status_code == 400 and "future" in past.json()["error"]["message"]
    too_far = subscribe(tenant, f"users/{upn}/contacts", receiver.url, minutes=4231)
    assert too_far.status_code == 400 and error_code(too_far) == "ExtensionError"
    long_state = subscribe(tenant, f"users/{upn}/contacts", receiver.url, clientState="x" * 129)
    assert long_state.status_code == 400
    wrong_type = subscribe(tenant, f"users/{upn}/contacts", receiver.url, change_type="created,moved")
    assert wrong_type.status_code == 400
    unsupported = subscribe(tenant, f"users/{upn}/messages", receiver.url)
    assert unsupported.status_code == 400 and "not supported" in unsupported.json()["error"]["message"]
    no_token = tenant.http.post(f"{tenant.url}/v1.0/subscriptions", json={}, timeout=30)
    assert no_token.status_code == 401
    assert not receiver.validations  # nothing valid was asked, so no handshake reached the receiver


def test_contact_changes_are_notified_with_client_state(tenant, mb, upn, receiver):
    sub = subscribe(tenant, f"users/{upn}/contacts", receiver.url).json()
    uid = user_id(tenant, upn)
    contact = mb.ok("post", "contacts", 201, json={"givenName": "Ada", "surname": "Lovelace"})
    created = receiver.wait_for(lambda n: n["changeType"] == "created")
    assert created[0]["subscriptionId"] == sub["id"] and created[0]["clientState"] == "s3cret-state"
    assert created[0]["resource"] == f"Users/{uid}/Contacts/{contact['id']}"
    assert created[0]["resourceData"]["id"] == contact["id"]
    assert created[0]["resourceData"]["@odata.type"] == "#Microsoft.Graph.Contact"
    assert created[0]["tenantId"] == tenant.app["tenant_id"]
    assert created[0]["subscriptionExpirationDateTime"] == sub["expirationDateTime"]

    updated = mb.ok("patch", f"contacts/{contact['id']}", json={"jobTitle": "Analyst"})
    assert receiver.wait_for(lambda n: n["changeType"] == "updated")[0]["resourceData"]["@odata.etag"] == \
        updated["@odata.etag"]
    mb.ok("delete", f"contacts/{contact['id']}", 204)
    assert receiver.wait_for(lambda n: n["changeType"] == "deleted")[0]["resourceData"]["id"] == contact["id"]
    listing = tenant.control("GET", "/graph/subscriptions", expect=200).json()
    mine = next(s for s in listing["subscriptions"] if s["id"] == sub["id"])
    assert mine["deliveries"] == 3 and mine["mailbox"] == upn and mine["pending"] == 0
    assert tenant.control("GET", "/stats").json()["notifications"]["change"] >= 3


def test_event_and_task_changes_are_notified(tenant, mb, upn, receiver):
    subscribe(tenant, f"users/{upn}/calendar/events", receiver.url, change_type="created")
    default_list = next(tl for tl in mb.ok("get", "todo/lists")["value"] if tl["wellknownListName"] == "defaultList")
    subscribe(tenant, f"users/{upn}/todo/lists/{default_list['id']}/tasks", receiver.url, change_type="updated")
    event = mb.ok("post", "events", 201, json={
        "subject": "Review", "start": {"dateTime": "2030-01-02T10:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2030-01-02T11:00:00", "timeZone": "UTC"}})
    task = mb.ok("post", f"todo/lists/{default_list['id']}/tasks", 201, json={"title": "Call back"})
    mb.ok("patch", f"todo/lists/{default_list['id']}/tasks/{task['id']}", json={"title": "Call back today"})
    got_event = receiver.wait_for(lambda n: n["resourceData"]["id"] == event["id"])
    assert got_event[0]["changeType"] == "created" and "/Events/" in got_event[0]["resource"]
    got_task = receiver.wait_for(lambda n: n["resourceData"]["id"] == task["id"])
    # the subscription asked for updates only, so the task's creation was not sent
    assert [n["changeType"] for n in got_task] == ["updated"]
    assert got_task[0]["resource"].endswith(f"/todo/lists/{default_list['id']}/tasks/{task['id']}")


def test_a_failing_receiver_gets_the_notification_after_a_retry(tenant, mb, upn, receiver):
    before = tenant.control("GET", "/graph/subscriptions").json()["settings"]
    tenant.control("POST", "/graph/subscriptions/settings", {"backoff_seconds": 0.2}, expect=200)
    try:
        sub = subscribe(tenant, f"users/{upn}/contacts", receiver.url).json()
        receiver.fail_next = 2
        contact = mb.ok("post", "contacts", 201, json={"givenName": "Retry"})
        got = receiver.wait_for(lambda n: n["resourceData"]["id"] == contact["id"])
        assert len(got) == 1 and receiver.posts == 3
        counts = next(s for s in tenant.control("GET", "/graph/subscriptions").json()["subscriptions"]
                      if s["id"] == sub["id"])
        assert counts["failed_attempts"] == 2 and counts["deliveries"] == 1
    finally:
        tenant.control("POST", "/graph/subscriptions/settings", before, expect=200)


def test_notifications_are_dropped_after_the_retry_window(tenant, mb, upn, receiver):
    before = tenant.control("GET", "/graph/subscriptions").json()["settings"]
    tenant.control("POST", "/graph/subscriptions/settings", {"backoff_seconds": 0.1, "retry_seconds": 0.5},
                   expect=200)
    try:
        sub = subscribe(tenant, f"users/{upn}/contacts", receiver.url).json()
        receiver.fail_next = 1000
        mb.ok("post", "contacts", 201, json={"givenName": "Dropped"})
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            counts = next(s for s in tenant.control("GET", "/graph/subscriptions").json()["subscriptions"]
                          if s["id"] == sub["id"])
            if counts["dropped"]:
                break
            time.sleep(0.1)
        assert counts["dropped"] == 1 and counts["deliveries"] == 0 and counts["pending"] == 0
    finally:
        tenant.control("POST", "/graph/subscriptions/settings", before, expect=200)
