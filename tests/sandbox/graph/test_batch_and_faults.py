"""JSON batching, injected faults (throttling with Retry-After, also inside a batch), call statistics and the
control API's users and reset."""

import time

import pytest
from msal.exceptions import MsalServiceError

from tests.sandbox.graph.conftest import error_code


def _batch(tenant, requests, status=200):
    response = tenant.call("POST", "$batch", json={"requests": requests})
    assert response.status_code == status, response.text
    return response


def _by_id(response) -> dict:
    return {r["id"]: r for r in response.json()["responses"]}


def test_batch_of_twenty_with_inner_statuses(tenant, mb):
    base = f"/users/{mb.upn}/contacts"
    requests = [{"id": str(i), "method": "POST", "url": base, "headers": {"Content-Type": "application/json"},
                 "body": {"givenName": f"B{i}"}} for i in range(18)]
    requests.append({"id": "18", "method": "GET", "url": f"users/{mb.upn}/contacts/AAMkAnothing"})
    requests.append({"id": "19", "method": "GET", "url": f"{base}?$top=5&$select=givenName"})
    response = _batch(tenant, requests)
    assert [r["id"] for r in response.json()["responses"]] != [r["id"] for r in requests]  # correlate by id
    answers = _by_id(response)
    assert len(answers) == 20
    assert all(answers[str(i)]["status"] == 201 and answers[str(i)]["body"]["givenName"] == f"B{i}"
               for i in range(18))
    assert answers["18"]["status"] == 404 and answers["18"]["body"]["error"]["code"] == "ErrorItemNotFound"
    assert answers["19"]["status"] == 200 and len(answers["19"]["body"]["value"]) == 5
    assert answers["0"]["headers"]["Content-Type"].startswith("application/json")
    assert len(mb.ok("get", "contacts", params={"$top": 100})["value"]) == 18


def test_batch_limits_and_malformed_batches(tenant, mb):
    too_many = [{"id": str(i), "method": "GET", "url": f"/users/{mb.upn}/contacts"} for i in range(21)]
    response = _batch(tenant, too_many, 400)
    assert error_code(response) == "BadRequest" and "20" in response.json()["error"]["message"]
    duplicate = [{"id": "1", "method": "GET", "url": "/users"}, {"id": "1", "method": "GET", "url": "/users"}]
    _batch(tenant, duplicate, 400)
    no_type = [{"id": "1", "method": "POST", "url": f"/users/{mb.upn}/contacts", "body": {"givenName": "x"}}]
    _batch(tenant, no_type, 400)
    unknown_dep = [{"id": "1", "method": "GET", "url": "/users", "dependsOn": ["9"]}]
    _batch(tenant, unknown_dep, 400)
    assert mb.ok("get", "contacts")["value"] == []


def test_batch_depends_on(tenant, mb):
    folder = mb.ok("post", "contactFolders", 201, json={"displayName": "Batch"})
    url = f"/users/{mb.upn}/contactFolders/{folder['id']}/contacts"
    json_header = {"Content-Type": "application/json"}
    requests = [
        # Listed out of order: "list" must run after both creations.
        {"id": "list", "method": "GET", "url": url, "dependsOn": ["b"]},
        {"id": "b", "method": "POST", "url": url, "headers": json_header, "body": {"givenName": "Second"},
         "dependsOn": ["a"]},
        {"id": "a", "method": "POST", "url": url, "headers": json_header, "body": {"givenName": "First"}},
        {"id": "bad", "method": "PATCH", "url": f"/users/{mb.upn}/contacts/AAMkAnothing", "headers": json_header,
         "body": {"givenName": "x"}},
        {"id": "after-bad", "method": "POST", "url": url, "headers": json_header, "body": {"givenName": "Never"},
         "dependsOn": ["bad"]},
    ]
    response = _batch(tenant, requests)
    order = [r["id"] for r in response.json()["responses"]]
    assert order.index("a") < order.index("b") < order.index("list")
    answers = _by_id(response)
    assert [c["givenName"] for c in answers["list"]["body"]["value"]] == ["Second", "First"] or \
        sorted(c["givenName"] for c in answers["list"]["body"]["value"]) == ["First", "Second"]
    assert answers["bad"]["status"] == 404
    assert answers["after-bad"]["status"] == 424
    names = sorted(c["givenName"] for c in mb.ok("get", f"contactFolders/{folder['id']}/contacts")["value"])
    assert names == ["First", "Second"]


def test_throttling_with_retry_after(tenant, mb):
    tenant.control("POST", "/faults", {"operation": "contacts", "status": 429, "retry_after": 7, "count": 2},
                   expect=201)
    for _ in range(2):
        response = mb.get("contacts")
        assert response.status_code == 429 and response.headers["Retry-After"] == "7"
        assert error_code(response) == "TooManyRequests"
    assert mb.get("contacts").status_code == 200
    assert mb.get("contactFolders").status_code == 200
    tenant.control("POST", "/faults", {"operation": "calendarView/delta", "status": 503,
                                       "error_code": "ServiceUnavailable"}, expect=201)
    response = mb.get("calendarView/delta", params={"startDateTime": "2027-01-01T00:00:00Z",
                                                    "endDateTime": "2027-02-01T00:00:00Z"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    tenant.control("POST", "/faults", {"operation": "*", "status": 429, "error_code": "ApplicationThrottled"},
                   expect=201)
    assert error_code(mb.get("todo/lists")) == "ApplicationThrottled"


def test_fault_on_a_path_inside_a_folder_and_latency(tenant, mb):
    folder = mb.ok("post", "contactFolders", 201, json={"displayName": "F"})
    tenant.control("POST", "/faults", {"operation": "contacts/delta", "status": 429}, expect=201)
    response = mb.get(f"contactFolders/{folder['id']}/contacts/delta")
    assert response.status_code == 429
    tenant.control("POST", "/faults", {"operation": "contactFolders", "status": 200, "latency_ms": 300},
                   expect=201)
    started = time.monotonic()
    assert mb.get("contactFolders").status_code == 200
    assert time.monotonic() - started >= 0.3
    assert tenant.control("POST", "/faults", {"operation": "contacts", "status": 302}).status_code == 400


def test_throttled_request_inside_a_batch(tenant, mb):
    tenant.control("POST", "/faults", {"operation": "contacts", "status": 429, "retry_after": 3}, expect=201)
    requests = [{"id": "1", "method": "GET", "url": f"/users/{mb.upn}/contacts"},
                {"id": "2", "method": "GET", "url": f"/users/{mb.upn}/contactFolders"},
                {"id": "3", "method": "GET", "url": f"/users/{mb.upn}/contacts"}]
    answers = _by_id(_batch(tenant, requests))
    assert answers["1"]["status"] == 429 and answers["1"]["headers"]["Retry-After"] == "3"
    assert answers["1"]["body"]["error"]["code"] == "TooManyRequests"
    assert answers["2"]["status"] == 200 and answers["3"]["status"] == 200
    tenant.control("POST", "/faults", {"operation": "$batch", "status": 429}, expect=201)
    response = tenant.call("POST", "$batch", json={"requests": requests})
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"


def test_token_fault(tenant):
    tenant.control("POST", "/faults", {"operation": "token", "status": 503}, expect=201)
    with pytest.raises(MsalServiceError, match="503"):  # msal raises on a 5xx from the token endpoint
        tenant.msal_app().acquire_token_for_client(["https://graph.microsoft.com/.default"])
    tenant.control("POST", "/faults", {"operation": "token", "status": 429, "retry_after": 2}, expect=201)
    result = tenant.msal_app().acquire_token_for_client(["https://graph.microsoft.com/.default"])
    assert "access_token" not in result and result["error"] == "temporarily_unavailable"
    assert "access_token" in tenant.msal_app().acquire_token_for_client(["https://graph.microsoft.com/.default"])


def test_stats_count_calls_and_batched_calls(tenant, mb):
    tenant.token()
    tenant.control("DELETE", "/stats", expect=200)
    folder = mb.ok("post", "contactFolders", 201, json={"displayName": "S"})
    mb.ok("get", f"contactFolders/{folder['id']}/contacts")
    mb.ok("get", f"contactFolders/{folder['id']}/contacts/delta")
    _batch(tenant, [{"id": "1", "method": "GET", "url": f"/users/{mb.upn}/contacts"},
                    {"id": "2", "method": "GET", "url": f"/users/{mb.upn}/contacts"}])
    stats = tenant.control("GET", "/stats", expect=200).json()
    assert stats["calls"] == {"POST contactFolders": 1, "GET contactFolders/{id}/contacts": 1,
                              "GET contactFolders/{id}/contacts/delta": 1, "POST $batch": 1}
    assert stats["batched"] == {"GET contacts": 2}
    assert stats["calls_by_user"] == {mb.upn: 5}  # every Graph call, batched or not
    assert stats["requests_by_user"] == {mb.upn: 4}  # HTTP requests: the $batch once
    tenant.control("DELETE", "/stats", expect=200)
    other = tenant.user()
    tenant.call("GET", f"users/{mb.upn}/contacts", token="expired-or-garbage")  # refused, still a request
    _batch(tenant, [{"id": "1", "method": "GET", "url": f"/users/{mb.upn}/contacts"},
                    {"id": "2", "method": "GET", "url": f"users/{other}/contacts"},
                    {"id": "3", "method": "GET", "url": f"/users/{other}/contactFolders"}])
    stats = tenant.control("GET", "/stats", expect=200).json()
    assert stats["requests_by_user"] == {mb.upn: 2, other: 1}
    assert stats["calls_by_user"] == {mb.upn: 1, other: 2}


def test_control_users_and_reset(tenant):
    upn = tenant.user()
    assert upn in [u["userPrincipalName"] for u in tenant.control("GET", "/users").json()["users"]]
    assert tenant.running.hub.exchange.store.mailbox(upn) is not None  # the hub made both mailboxes
    tenant.call("POST", f"users/{upn}/contacts", json={"givenName": "Doomed"})
    demo = "amelia.hart@sandbox.test"
    assert tenant.call("GET", f"users/{demo}/contacts").json()["value"]
    tenant.control("POST", "/reset", expect=200)
    users = [u["userPrincipalName"] for u in tenant.control("GET", "/users").json()["users"]]
    assert upn not in users and demo in users
    assert tenant.call("GET", f"users/{demo}/contacts").json()["value"] == []
    assert tenant.call("GET", f"users/{upn}/contacts").status_code == 404


def test_latency_delays_only_the_faulted_request(tenant, mb):
    import threading

    tenant.token()
    tenant.control("POST", "/faults", {"operation": "contacts", "status": 200, "latency_ms": 1500}, expect=201)
    slow = threading.Thread(target=lambda: mb.get("contacts"))
    slow.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert mb.get("contactFolders").status_code == 200
    assert time.monotonic() - started < 1.0
    slow.join()
