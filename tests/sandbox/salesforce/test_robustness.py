"""Bad input never gets a 500 or a traceback: always a Salesforce-shaped error. Several clients at once."""

import json
import threading

import pytest

from sandbox.salesforce.ids import checksum

BAD_REQUESTS = [
    ("POST", "/sobjects/Contact", {"json": []}),
    ("POST", "/sobjects/Contact", {"json": "just a string"}),
    ("POST", "/sobjects/Contact", {"json": {"LastName": {"nested": 1}}}),
    ("POST", "/sobjects/Contact", {"json": {"LastName": ["x"]}}),
    ("POST", "/sobjects/Contact", {"data": b"\xff\xfe garbage", "headers": {"Content-Type": "application/json"}}),
    ("POST", "/sobjects/Event", {"data": '{"Subject": "x", "DurationInMinutes": NaN, "StartDateTime": '
                                         '"2026-11-22T10:00:00Z"}', "headers": {"Content-Type": "application/json"}}),
    ("POST", "/sobjects/Account", {"data": '{"Name": "x", "AnnualRevenue": Infinity}',
                                   "headers": {"Content-Type": "application/json"}}),
    ("POST", "/sobjects/Event", {"json": {"Subject": "x", "DurationInMinutes": 10**30,
                                          "StartDateTime": "2026-11-22T10:00:00Z"}}),
    ("POST", "/sobjects/Event", {"json": {"Subject": "x", "DurationInMinutes": 30, "StartDateTime": "yesterday"}}),
    ("PATCH", "/composite/sobjects", {"json": {"records": ["not an object"]}}),
    ("PATCH", "/composite/sobjects", {"json": {"records": [{"attributes": "Contact", "Id": 5}], "allOrNone": 1}}),
    ("POST", "/composite/sobjects", {"json": {"allOrNone": "yes", "records": []}}),
    ("DELETE", "/composite/sobjects", {"params": {"ids": ",,,"}}),
    ("GET", "/composite/sobjects/Contact", {"params": {"ids": "x", "fields": "Id"}}),
    ("GET", "/query", {"params": {"q": "SELECT Id FROM Contact WHERE CreatedDate > LAST_N_DAYS:99999999999"}}),
    ("GET", "/query", {"params": {"q": "SELECT Id FROM Contact WHERE Birthdate = 2026-02-30"}}),
    ("GET", "/query", {"params": {"q": "SELECT Id FROM Contact WHERE CreatedDate > 2026-13-45T00:00:00Z"}}),
    ("GET", "/query", {"params": {"q": "SELECT Id FROM Contact WHERE LastName = 'é☃\\u'"}}),
    ("GET", "/query", {"params": {"q": "SELECT " + ", ".join(["Id"] * 500) + " FROM Contact"}}),  # noqa: S608
    ("GET", "/query", {"params": {"q": "\x00\x01"}}),
    ("GET", "/query/", {"params": {"q": "SELECT Id FROM Contact LIMIT 99999999999999999999999"}}),
    ("GET", "/query/nonsense", {}),
    ("GET", "/sobjects/Contact/updated/", {"params": {"start": "2026-11-22T10:00:00Z", "end": "2026-11-21T10:00Z"}}),
    ("GET", "/sobjects/Contact/deleted/", {"params": {"start": "never", "end": "always"}}),
    ("GET", "/sobjects/Contact/" + "0038d00000ZZZZZ" + checksum("0038d00000ZZZZZ"), {"params": {"fields": "Nope"}}),
    ("DELETE", "/sobjects/Contact/0018d0000000001AAA", {}),
    ("GET", "/nowhere", {}),
    ("PATCH", "/limits", {}),
]


@pytest.mark.parametrize("method, path, kwargs", BAD_REQUESTS, ids=[f"bad{n:02d}" for n in range(len(BAD_REQUESTS))])
def test_bad_input_gets_a_salesforce_error(org, method, path, kwargs):
    user = getattr(test_bad_input_gets_a_salesforce_error, "user", None) or org.user()
    test_bad_input_gets_a_salesforce_error.user = user
    response = org.rest(user, method, path, **kwargs)
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert isinstance(body, list) and {"message", "errorCode"} <= set(body[0]), body
    assert "Traceback" not in response.text


def test_several_clients_at_once(org):
    users = [org.user() for _ in range(4)]
    tokens = [org.token(user["username"]) for user in users]
    created: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def work(token: str, index: int) -> None:
        session = org.session()
        base = f"{org.url}/services/data/v59.0"
        headers = {"Authorization": f"Bearer {token}"}
        for n in range(15):
            response = session.post(f"{base}/sobjects/Contact", json={"LastName": f"T{index}-{n}"}, headers=headers)
            records = [{"attributes": {"type": "Contact"}, "LastName": f"C{index}-{n}-{k}"} for k in range(5)]
            batch = session.post(f"{base}/composite/sobjects", json={"allOrNone": True, "records": records},
                                 headers=headers)
            query = session.get(f"{base}/query", params={"q": "SELECT Id FROM Contact"}, headers=headers)
            with lock:
                if response.status_code != 201 or batch.status_code != 200 or query.status_code != 200:
                    errors.append(f"{response.status_code} {batch.status_code} {query.status_code}")
                else:
                    created.append(response.json()["id"])
                    created.extend(result["id"] for result in batch.json())

    threads = [threading.Thread(target=work, args=(token, i)) for i, token in enumerate(tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(created) == len(set(created)) == 4 * 15 * 6
    for user, token in zip(users, tokens, strict=True):
        count = org.rest(token, "GET", "/query", params={"q": "SELECT COUNT() FROM Contact"}).json()["totalSize"]
        assert count == 15 * 6, (user["username"], count)
    json.dumps(created)
