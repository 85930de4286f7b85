"""The Composite resource (``POST /composite``) and the conditional ``If-Unmodified-Since`` on sObject Rows: the shapes
Salesforce documents, references between subrequests, ``allOrNone`` both ways, the 25-subrequest limit, one API
call per composite request, and a record edited after the given date refused with 412."""

import datetime as dt
import time
from email.utils import format_datetime

import pytest

from sandbox.salesforce.values import parse_datetime

BASE = "/services/data/v59.0"


@pytest.fixture(scope="module")
def user(org):
    return org.user("Standard User")


def composite(org, user, subrequests, all_or_none=False):
    response = org.rest(user, "POST", "/composite", json={"allOrNone": all_or_none,
                                                          "compositeRequest": subrequests})
    assert response.status_code == 200, response.text
    return response.json()["compositeResponse"]


def contact(org, user, **fields) -> str:
    response = org.rest(user, "POST", "/sobjects/Contact", json={"LastName": "Row", **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def modified(org, user, record_id: str) -> dt.datetime:
    row = org.rest(user, "GET", f"/sobjects/Contact/{record_id}?fields=LastModifiedDate").json()
    return parse_datetime(row["LastModifiedDate"])


def http_date(when: dt.datetime) -> str:
    return format_datetime(when.astimezone(dt.UTC).replace(microsecond=0), usegmt=True)


def test_rows_subrequests_with_references_in_order(org, user):
    answers = composite(org, user, [
        {"method": "POST", "url": f"{BASE}/sobjects/Contact", "referenceId": "newContact",
         "body": {"LastName": "Composite", "Title": "Draft"}},
        {"method": "GET", "url": f"{BASE}/sobjects/Contact/@{{newContact.id}}?fields=Title,LastName",
         "referenceId": "readIt"},
        {"method": "PATCH", "url": f"{BASE}/sobjects/Contact/@{{newContact.id}}", "referenceId": "editIt",
         "body": {"Title": "Final", "Department": "@{readIt.LastName}"}},
        {"method": "DELETE", "url": f"{BASE}/sobjects/Contact/@{{newContact.id}}", "referenceId": "dropIt"},
    ])
    assert [set(answer) for answer in answers] == [{"body", "httpHeaders", "httpStatusCode", "referenceId"}] * 4
    assert [(a["referenceId"], a["httpStatusCode"]) for a in answers] == [
        ("newContact", 201), ("readIt", 200), ("editIt", 204), ("dropIt", 204)]
    created = answers[0]["body"]
    assert created["success"] is True and created["errors"] == []
    assert answers[0]["httpHeaders"] == {"Location": f"{BASE}/sobjects/Contact/{created['id']}"}
    assert answers[1]["body"]["Title"] == "Draft" and answers[2]["body"] is None
    gone = org.rest(user, "GET", f"/sobjects/Contact/{created['id']}")
    assert gone.status_code == 404


def test_errors_per_subrequest_without_all_or_none(org, user):
    keep = contact(org, user)
    answers = composite(org, user, [
        {"method": "PATCH", "url": f"{BASE}/sobjects/Contact/{keep}", "referenceId": "good", "body": {"Title": "A"}},
        {"method": "PATCH", "url": f"{BASE}/sobjects/Contact/{keep}", "referenceId": "bad",
         "body": {"Email": "not an address"}},
        {"method": "POST", "url": f"{BASE}/sobjects/Contact", "referenceId": "noName", "body": {"FirstName": "x"}},
    ])
    assert [a["httpStatusCode"] for a in answers] == [204, 400, 400]
    assert answers[1]["body"][0]["errorCode"] == "INVALID_EMAIL_ADDRESS"
    assert answers[2]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    title = org.rest(user, "GET", f"/sobjects/Contact/{keep}?fields=Title").json()["Title"]
    assert title == "A"


def test_all_or_none_rolls_everything_back(org, user):
    keep = contact(org, user, Title="Before")
    answers = composite(org, user, [
        {"method": "PATCH", "url": f"{BASE}/sobjects/Contact/{keep}", "referenceId": "edit", "body": {"Title": "X"}},
        {"method": "POST", "url": f"{BASE}/sobjects/Contact", "referenceId": "made", "body": {"LastName": "Gone"}},
        {"method": "POST", "url": f"{BASE}/sobjects/Contact", "referenceId": "fails", "body": {"FirstName": "x"}},
        {"method": "PATCH", "url": f"{BASE}/sobjects/Contact/{keep}", "referenceId": "never",
         "body": {"Title": "Y"}},
    ], all_or_none=True)
    assert [a["httpStatusCode"] for a in answers] == [400, 400, 400, 400]
    assert [a["body"][0]["errorCode"] for a in answers] == [
        "PROCESSING_HALTED", "PROCESSING_HALTED", "REQUIRED_FIELD_MISSING", "PROCESSING_HALTED"]
    assert org.rest(user, "GET", f"/sobjects/Contact/{keep}?fields=Title").json()["Title"] == "Before"
    made = org.sf(user).query("SELECT Id FROM Contact WHERE LastName = 'Gone'")
    assert made["totalSize"] == 0


def test_one_api_call_and_the_limits(org, user):
    keep = contact(org, user)
    used = org.rest(user, "GET", "/limits").json()["DailyApiRequests"]["Remaining"]
    composite(org, user, [{"method": "PATCH", "url": f"{BASE}/sobjects/Contact/{keep}", "referenceId": f"r{n}",
                           "body": {"Title": f"T{n}"}} for n in range(25)])
    after = org.rest(user, "GET", "/limits").json()["DailyApiRequests"]["Remaining"]
    assert used - after == 2  # the composite request and this second /limits call, not 25 subrequests
    too_many = org.rest(user, "POST", "/composite", json={"compositeRequest": [
        {"method": "GET", "url": f"{BASE}/sobjects/Contact/{keep}", "referenceId": f"r{n}"} for n in range(26)]})
    assert too_many.status_code == 400 and too_many.json()[0]["errorCode"] == "LIMIT_EXCEEDED"
    own_header = org.rest(user, "POST", "/composite", json={"compositeRequest": [
        {"method": "GET", "url": f"{BASE}/sobjects/Contact/{keep}", "referenceId": "r",
         "httpHeaders": {"Authorization": "Bearer x"}}]})
    assert own_header.status_code == 400 and "Authorization" in own_header.json()[0]["message"]
    duplicate = org.rest(user, "POST", "/composite", json={"compositeRequest": [
        {"method": "GET", "url": f"{BASE}/sobjects/Contact/{keep}", "referenceId": "r"}] * 2})
    assert duplicate.status_code == 400


def test_last_modified_date_moves_on_every_edit(org, user):
    record_id = contact(org, user)
    stamps = [modified(org, user, record_id)]
    for title in ("one", "two"):
        time.sleep(0.01)
        assert org.rest(user, "PATCH", f"/sobjects/Contact/{record_id}", json={"Title": title}).status_code == 204
        stamps.append(modified(org, user, record_id))
    assert stamps[0] < stamps[1] < stamps[2]


def test_if_unmodified_since_on_sobject_rows(org, user):
    record_id = contact(org, user, Title="Original")
    before = modified(org, user, record_id)
    # The date of the record's own last change passes: Salesforce compares whole seconds (an HTTP date has no
    # fractions), although the emulator keeps milliseconds.
    ok = org.rest(user, "PATCH", f"/sobjects/Contact/{record_id}", json={"Title": "Ours"},
                  headers={"If-Unmodified-Since": http_date(before)})
    assert ok.status_code == 204, ok.text
    after = modified(org, user, record_id)
    stale = http_date(after - dt.timedelta(seconds=1))
    refused = org.rest(user, "PATCH", f"/sobjects/Contact/{record_id}", json={"Title": "Lost"},
                       headers={"If-Unmodified-Since": stale})
    assert refused.status_code == 412
    assert refused.json()[0]["errorCode"] == "PRECONDITION_FAILED"
    assert org.rest(user, "GET", f"/sobjects/Contact/{record_id}?fields=Title").json()["Title"] == "Ours"
    assert org.rest(user, "GET", f"/sobjects/Contact/{record_id}",
                    headers={"If-Unmodified-Since": stale}).status_code == 412
    garbage = org.rest(user, "PATCH", f"/sobjects/Contact/{record_id}", json={"Title": "x"},
                       headers={"If-Unmodified-Since": "yesterday-ish"})
    assert garbage.status_code == 400 and "If-Unmodified-Since" in garbage.json()[0]["message"]
    # No header: unconditional, as before.
    assert org.rest(user, "PATCH", f"/sobjects/Contact/{record_id}", json={"Title": "x"}).status_code == 204


def test_if_unmodified_since_in_a_composite_subrequest(org, user):
    first, second = contact(org, user, Title="A"), contact(org, user, Title="B")
    known = {record_id: modified(org, user, record_id) for record_id in (first, second)}
    time.sleep(1.1)  # a later second: Salesforce compares whole seconds
    assert org.rest(user, "PATCH", f"/sobjects/Contact/{second}", json={"Title": "user"}).status_code == 204
    answers = composite(org, user, [
        {"method": "PATCH", "url": f"{BASE}/sobjects/Contact/{record_id}", "referenceId": f"r{n}",
         "body": {"Title": "sync"}, "httpHeaders": {"If-Unmodified-Since": http_date(known[record_id])}}
        for n, record_id in enumerate((first, second))])
    assert [a["httpStatusCode"] for a in answers] == [204, 412]
    assert answers[1]["body"][0]["errorCode"] == "PRECONDITION_FAILED"
    titles = {record_id: org.rest(user, "GET", f"/sobjects/Contact/{record_id}?fields=Title").json()["Title"]
              for record_id in (first, second)}
    assert titles == {first: "sync", second: "user"}


def test_a_latency_fault_slows_composite(org, user):
    keep = contact(org, user)
    org.control("POST", "/faults", {"operation": "/services/data/*/composite", "latency_ms": 400, "count": 1},
                expect=201)
    try:
        started = time.monotonic()
        composite(org, user, [{"method": "GET", "url": f"{BASE}/sobjects/Contact/{keep}", "referenceId": "r"}])
        assert time.monotonic() - started >= 0.4
    finally:
        org.control("DELETE", "/faults", expect=200)
