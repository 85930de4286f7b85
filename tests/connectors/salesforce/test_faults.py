"""Whole-call failures injected in the sandbox, classified once: transient (retry later, with the server's hint),
permanent, or needing a person; and the org's API usage read from Sforce-Limit-Info."""

import pytest

from sync.connectors.base import NeedsAttention, ObjectOptions, PermanentError, TransientError
from sync.engine import CreateRequest, SyncObject
from tests.connectors.salesforce.conftest import owned_by

CONTACTS = SyncObject.CONTACTS


def test_server_unavailable_on_a_write_is_transient_and_writes_nothing(org, user):
    side = org.client(user).side(CONTACTS, owned_by(user))
    org.fault("/services/data/*/composite", 503, "SERVER_UNAVAILABLE")
    with pytest.raises(TransientError) as failure:
        side.create([CreateRequest({"last_name": "Later"})])
    assert failure.value.code == "SERVER_UNAVAILABLE"
    assert side.changes(None).records == {}
    [result] = side.create([CreateRequest({"last_name": "Later"})])
    assert result.ok


def test_an_internal_error_on_a_read_is_transient(org, user):
    side = org.client(user).side(CONTACTS, owned_by(user))
    org.fault("/services/data/*/query", 500, "UNKNOWN_EXCEPTION")
    with pytest.raises(TransientError) as failure:
        side.changes(None)
    assert failure.value.code == "UNKNOWN_EXCEPTION"


def test_the_daily_limit_is_transient_with_a_retry_hint(org, user):
    client = org.client(user)
    side = client.side(CONTACTS, owned_by(user))
    side.changes(None)
    allocation = client.api_usage()[1]
    org.control("POST", "/settings", {"api_usage": allocation}, expect=200)
    with pytest.raises(TransientError) as failure:
        side.changes(None)
    assert failure.value.code == "REQUEST_LIMIT_EXCEEDED"
    assert failure.value.retry_after == 3600
    assert client.api_usage() == (allocation, allocation)


def test_an_injected_request_limit_fault_is_classified_alike(org, user):
    side = org.client(user).side(CONTACTS, owned_by(user))
    org.fault("/services/data/*/composite", 403, "REQUEST_LIMIT_EXCEEDED")
    with pytest.raises(TransientError) as failure:
        side.delete(["0038d0000000001AAA"])
    assert failure.value.code == "REQUEST_LIMIT_EXCEEDED" and failure.value.retry_after


def test_a_slow_answer_times_out_as_transient(org, user):
    client = org.client(user, timeout_seconds=0.3)
    client.user_info()
    org.fault("/services/data/*/query", 0, latency_ms=1500)
    with pytest.raises(TransientError) as failure:
        client.side(CONTACTS, owned_by(user)).changes(None)
    assert failure.value.code == "TIMEOUT"


def test_api_usage_is_read_from_the_last_response(org, user):
    client = org.client(user)
    assert client.api_usage() is None
    client.side(CONTACTS, owned_by(user)).changes(None)
    used, allocation = client.api_usage()
    assert (used, allocation) == tuple(org.stats()["api_usage"].values())
    assert allocation == 15000 and used >= 1


def test_a_malformed_data_set_is_permanent(org, user):
    side = org.client(user).side(CONTACTS, ObjectOptions(where="OwnerId = "))
    with pytest.raises(PermanentError) as failure:
        side.changes(None)
    assert failure.value.code == "MALFORMED_QUERY"


def test_a_field_the_data_set_names_but_cannot_read_needs_attention(org, user):
    side = org.client(user).side(CONTACTS, ObjectOptions(where="Nickname__c = 'x'"))
    with pytest.raises(NeedsAttention) as failure:
        side.changes(None)
    assert failure.value.code == "INVALID_FIELD"
    assert "field-level security" in failure.value.action


def test_calls_are_counted_by_the_connector_as_the_org_counts_them(org, user):
    client = org.client(user)
    before = org.calls_of(user)
    side = client.side(CONTACTS, owned_by(user))
    watermark = side.changes(None).watermark
    [created] = side.create([CreateRequest({"last_name": "Counted"})])
    side.changes(watermark)
    side.delete([created.record_id])
    # token + full query + (collections create + version query) + (query + queryAll) + collections delete
    assert client.calls.calls == org.calls_of(user) - before == 7
    assert client.calls.by_operation == {"token": 1, "query": 3, "queryAll": 1, "POST composite/sobjects": 1,
                                         "DELETE composite/sobjects": 1}
