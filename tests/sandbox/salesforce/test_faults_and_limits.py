"""Fault injection per path prefix, the daily API allocation, stats, reset and persistence across a restart."""

import time

import pytest
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceGeneralError, SalesforceRefusedRequest

from sandbox.runner import start_sandbox

from .conftest import Org, reference


@pytest.fixture
def clean(fresh_org):
    yield fresh_org
    fresh_org.control("DELETE", "/faults", expect=200)
    fresh_org.control("POST", "/settings", {"api_allocation": 15000, "api_usage": 0}, expect=200)


def test_503_on_one_prefix_only(clean):
    org = clean
    sf = org.sf(org.user())
    org.control("POST", "/faults", {"operation": "/services/data/v59.0/composite", "status": 503,
                                    "error_code": "SERVER_UNAVAILABLE", "count": 2}, expect=201)
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0  # another prefix: untouched
    body = {"records": [{"attributes": {"type": "Contact"}, "LastName": "x"}]}
    for _ in range(2):
        with pytest.raises(SalesforceGeneralError) as failure:
            sf.restful("composite/sobjects", method="POST", json=body)
        assert failure.value.status == 503
        assert failure.value.content[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert sf.restful("composite/sobjects", method="POST", json=body)[0]["success"] is True  # count used up


def test_request_limit_exceeded_fault_and_real_allocation(clean):
    org = clean
    user = org.user()
    sf = org.sf(user)
    org.control("POST", "/faults", {"operation": "*", "status": 403, "error_code": "REQUEST_LIMIT_EXCEEDED"},
                expect=201)
    with pytest.raises(SalesforceRefusedRequest) as failure:
        sf.query("SELECT Id FROM Contact")
    assert failure.value.content == reference("docs_error_bodies.json")["403_request_limit_exceeded"]
    # the real allocation: set it low, use it up
    org.control("POST", "/settings", {"api_allocation": 5, "api_usage": 3}, expect=200)
    assert org.rest(user, "GET", "/limits").headers["Sforce-Limit-Info"] == "api-usage=4/5"
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
    assert sf.api_usage["api-usage"].used == 5
    refused = org.rest(user, "GET", "/limits")
    assert refused.status_code == 403
    assert refused.json() == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=5/5"
    org.control("POST", "/settings", {"api_allocation": 6}, expect=200)
    assert org.rest(user, "GET", "/limits").json()["DailyApiRequests"] == {"Max": 6, "Remaining": 0}
    # a day later the allocation is available again
    org.control("POST", "/settings", {"clock_offset_seconds": 86400}, expect=200)
    try:
        token = org.http.post(f"{org.url}/services/oauth2/token", data={  # the JWT would be from "yesterday"
            "grant_type": "password", "client_id": "x", "username": user["username"], "password": "sandbox"})
        fresh = org.rest(token.json()["access_token"], "GET", "/limits")
        assert fresh.status_code == 200 and fresh.headers["Sforce-Limit-Info"] == "api-usage=1/6"
    finally:
        org.control("POST", "/settings", {"clock_offset_seconds": 0}, expect=200)


def test_added_latency(clean):
    org = clean
    user = org.user()
    token = org.token(user["username"])
    org.control("POST", "/faults", {"operation": "/services/data/*/query", "latency_ms": 400, "count": 1},
                expect=201)
    started = time.monotonic()
    slow = org.rest(token, "GET", "/query", params={"q": "SELECT Id FROM Contact"})
    elapsed = time.monotonic() - started
    assert slow.status_code == 200 and elapsed >= 0.4
    started = time.monotonic()
    assert org.rest(token, "GET", "/query", params={"q": "SELECT Id FROM Contact"}).status_code == 200
    assert time.monotonic() - started < 0.4


def test_expired_session_fault_revokes_the_session(clean):
    org = clean
    user = org.user()
    sf = org.sf(user)
    org.control("POST", "/faults", {"operation": "/services/data/v59.0/sobjects", "status": 401,
                                    "error_code": "INVALID_SESSION_ID"}, expect=201)
    with pytest.raises(SalesforceExpiredSession) as failure:
        sf.Contact.create({"LastName": "x"})
    assert failure.value.content == reference("restforce_expired_session_response.json")
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Contact")  # the fault is used up; the session stays expired
    assert org.sf(user).query("SELECT COUNT() FROM Contact")["totalSize"] == 0  # a new token works


def test_control_api_validates_faults(clean):
    org = clean
    assert org.control("POST", "/faults", {"status": 503}).status_code == 400
    assert org.control("POST", "/faults", {"operation": "*"}).status_code == 400
    assert org.control("POST", "/faults", {"operation": "*", "status": 200}).status_code == 400
    assert org.control("POST", "/faults", "[]").status_code == 400
    assert org.control("GET", "/nothing-here").status_code == 404


def test_stats_count_calls_by_pattern_and_user(clean):
    org = clean
    org.control("DELETE", "/stats", expect=200)
    user = org.user()
    sf = org.sf(user)
    contact = sf.Contact.create({"LastName": "Counted"})["id"]
    sf.Contact.update(contact, {"Title": "x"})
    sf.query("SELECT Id FROM Contact")
    stats = org.control("GET", "/stats", expect=200).json()
    assert stats["calls"]["POST /services/oauth2/token"] == 1
    assert stats["calls"]["POST /services/data/v{version}/sobjects/Contact"] == 1
    assert stats["calls"]["PATCH /services/data/v{version}/sobjects/Contact/{id}"] == 1
    assert stats["calls"]["GET /services/data/v{version}/query"] == 1
    assert stats["calls_by_user"][user["username"]] == 4


def test_persistence_across_restart_and_reset(tmp_path):
    running = start_sandbox(tmp_path, seed="empty")
    try:
        org = Org(running)
        user = org.user()
        sf = org.sf(user)
        contact = sf.Contact.create({"LastName": "Survivor", "Email": "s@example.com"})["id"]
        gone = sf.Contact.create({"LastName": "Deleted"})["id"]
        sf.Contact.delete(gone)
        token = sf.session_id
        consumer_key = org.consumer_key
    finally:
        running.stop()
    running = start_sandbox(tmp_path, seed="empty")
    try:
        org = Org(running)
        assert org.consumer_key == consumer_key
        again = org.sf(user)  # the user, the connected app and the records survived
        assert again.Contact.get(contact)["Email"] == "s@example.com"
        assert again.query_all("SELECT Id FROM Contact WHERE IsDeleted = true", include_deleted=True)[
            "records"][0]["Id"] == gone
        assert org.rest(token, "GET", "/limits").status_code == 200  # sessions persist too
        newer = again.Contact.create({"LastName": "After restart"})["id"]
        assert newer != contact and newer != gone  # ids keep counting after a restart
        org.control("POST", "/reset", expect=200)
        assert org.rest(token, "GET", "/limits").status_code == 401
        demo = org.sf("amelia.hart@sandbox.test")  # demo users are re-created by the hub
        assert demo.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
    finally:
        running.stop()


def _demo_snapshot(org: Org) -> list:
    manager = org.sf("amelia.hart@sandbox.test")
    snapshot = []
    for soql in ("SELECT Id, Name, OwnerId, BillingCity FROM Account ORDER BY Id",
                 "SELECT Id, Name, Email, AccountId, OwnerId, Interests__c FROM Contact ORDER BY Id",
                 "SELECT Id, Subject, StartDateTime, DurationInMinutes, WhoId, IsPrivate FROM Event ORDER BY Id",
                 "SELECT Id, Subject, Status, ActivityDate, OwnerId FROM Task ORDER BY Id"):
        snapshot.append([{k: v for k, v in r.items() if k != "attributes"}
                         for r in manager.query_all(soql)["records"]])
    return snapshot


def test_demo_seed_looks_like_an_org(tmp_path):
    running = start_sandbox(tmp_path / "one", seed="demo")
    try:
        org = Org(running)
        manager = org.sf("amelia.hart@sandbox.test")
        counts = {name: manager.query(f"SELECT COUNT() FROM {name}")["totalSize"]  # noqa: S608 - fixed names
                  for name in ("Account", "Contact", "Lead", "Event", "Task", "EventRelation")}
        assert counts["Account"] >= 30 and counts["Contact"] >= 300 and counts["Event"] >= 100
        assert counts["Task"] >= 100 and counts["EventRelation"] >= 1
        for soql in ("SELECT COUNT() FROM Event WHERE IsAllDayEvent = true",
                     "SELECT COUNT() FROM Event WHERE IsRecurrence = true",
                     "SELECT COUNT() FROM Task WHERE IsClosed = true",
                     "SELECT COUNT() FROM Task WHERE IsClosed = false"):
            assert manager.query(soql)["totalSize"] > 0, soql
        owners = manager.query("SELECT Owner.Username FROM Contact")["records"]
        assert len({r["Owner"]["Username"] for r in owners}) == 5
        ben = org.sf("ben.okafor@sandbox.test")
        assert 0 < ben.query("SELECT COUNT() FROM Contact")["totalSize"] < counts["Contact"]
        private = ben.query("SELECT COUNT() FROM Event WHERE IsPrivate = true")["totalSize"]
        assert private < manager.query_all("SELECT Id FROM Event")["totalSize"]
        first = _demo_snapshot(org)
    finally:
        running.stop()
    running = start_sandbox(tmp_path / "two", seed="demo")
    try:
        assert _demo_snapshot(Org(running)) == first  # deterministic
    finally:
        running.stop()
