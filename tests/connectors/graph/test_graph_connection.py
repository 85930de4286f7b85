"""Connection-level behaviour: tokens (secret, certificate, cache, expiry), check(), error classification,
throttling inside a $batch, per-record errors, the call budget of a full read."""

import dataclasses

import pytest

from sync.connectors.base import NeedsAttention, ObjectOptions, TransientError
from sync.connectors.ews import SalesforceIdProperty
from sync.connectors.exchange import SALESFORCE_ID_PROPERTY_SET
from sync.connectors.graph import SALESFORCE_ID_PROPERTY, GraphMailbox
from sync.engine import CreateRequest, SyncObject, UpdateRequest


def test_the_salesforce_id_property_is_the_ews_connectors():
    assert SalesforceIdProperty.property_set_id == SALESFORCE_ID_PROPERTY_SET
    assert (
        f"{SalesforceIdProperty.property_type} {{{SALESFORCE_ID_PROPERTY_SET}}} Name "
        f"{SalesforceIdProperty.property_name}") == SALESFORCE_ID_PROPERTY


def test_check_reports_the_contacts_folder(mailbox):
    assert mailbox.check() == {"ok": True, "mailbox": mailbox.mailbox, "contacts_folder": "Salesforce_Sync",
                               "contacts_folder_present": False}
    mailbox.side(SyncObject.CONTACTS).changes(None)
    assert mailbox.check()["contacts_folder_present"] is True


def test_missing_mailbox_wrong_secret_and_unknown_tenant_need_attention(settings, email):
    with pytest.raises(NeedsAttention) as caught:
        GraphMailbox(settings, "nobody@sandbox.test").check()
    assert caught.value.code == "mailbox_not_found"
    with pytest.raises(NeedsAttention) as caught:
        GraphMailbox(settings, "nobody@sandbox.test").side(SyncObject.TASKS).changes(None)
    assert caught.value.code == "mailbox_not_found"

    wrong = dataclasses.replace(settings, client_secret="wrong")
    with pytest.raises(NeedsAttention) as caught:
        GraphMailbox(wrong, email).side(SyncObject.TASKS).changes(None)
    assert caught.value.code == "invalid_client" and "secret" in caught.value.action

    with pytest.raises(NeedsAttention):
        GraphMailbox(dataclasses.replace(settings, client_id="00000000-0000-0000-0000-000000000000"),
                     email).check()


def test_certificate_credential(settings, registration, email):
    by_certificate = dataclasses.replace(settings, client_secret="", certificate_pem=registration.certificate_pem)
    mailbox = GraphMailbox(by_certificate, email)
    assert mailbox.side(SyncObject.TASKS).changes(None).full
    assert mailbox.calls.by_operation.get("token") == 1
    # the certificate may come first
    key, _, certificate = registration.certificate_pem.partition("-----BEGIN CERTIFICATE-----")
    swapped = dataclasses.replace(by_certificate, certificate_pem="-----BEGIN CERTIFICATE-----" + certificate + key)
    assert GraphMailbox(swapped, email).check()["ok"]
    # a key alone, or another certificate, is refused before any request
    with pytest.raises(NeedsAttention) as caught:
        GraphMailbox(dataclasses.replace(by_certificate, certificate_pem=key), email).check()
    assert caught.value.code == "invalid_certificate"


def test_unknown_tenant_needs_attention(settings, email):
    with pytest.raises(NeedsAttention) as caught:
        GraphMailbox(dataclasses.replace(settings, tenant_id="11111111-2222-3333-4444-555555555555"), email).check()
    assert caught.value.code == "tenant_not_found" and "tenant" in caught.value.action


def test_tokens_are_cached_per_app_and_renewed_once_after_expiry(settings, email, control):
    first = GraphMailbox(settings, email)
    mark = first.side(SyncObject.TASKS).changes(None).watermark
    assert first.calls.by_operation.get("token") == 1
    second = GraphMailbox(settings, email)  # another run in the same process: msal's cache, no token request
    second.side(SyncObject.TASKS).changes(mark)
    assert "token" not in second.calls.by_operation and second.calls.calls == 1

    control.expire_tokens()  # mid-run: every issued token is refused from now on
    control.reset_stats()
    third = GraphMailbox(settings, email)
    quiet = third.side(SyncObject.TASKS).changes(mark)
    assert quiet.records == {}
    # the refused request, a new token, the request again
    assert third.calls.by_operation == {"todo/tasks/delta": 2, "token": 1}
    assert control.calls(email) >= 1  # the emulator may not attribute a refused request to the mailbox
    assert third.side(SyncObject.TASKS).changes(quiet.watermark).records == {}  # the new token is used and kept
    assert third.calls.by_operation == {"todo/tasks/delta": 3, "token": 1}

    # in the middle of one run's writes: the batch is refused once, then sent again with a new token
    side = third.side(SyncObject.TASKS)
    made = side.create([CreateRequest({"subject": "before"})])
    control.expire_tokens()
    after = side.update([UpdateRequest(made[0].record_id, {"subject": "after"})])
    assert after[0].ok
    assert third.calls.by_operation["token"] == 2 and third.calls.by_operation["$batch"] == 3


def test_permission_errors_need_attention(mailbox, control):
    control.fault(operation="contactFolders", status=403, error_code="ErrorAccessDenied", count=1)
    with pytest.raises(NeedsAttention) as caught:
        mailbox.side(SyncObject.CONTACTS).changes(None)
    assert caught.value.code == "access_denied" and "Contacts.ReadWrite" in caught.value.action


def test_server_errors_are_transient(mailbox, control):
    mark = mailbox.side(SyncObject.TASKS).changes(None).watermark
    control.fault(operation="todo", status=500, error_code="generalException", count=10)
    with pytest.raises(TransientError) as caught:
        mailbox.side(SyncObject.TASKS).changes(mark)
    assert caught.value.code == "generalException"


def test_throttled_requests_inside_a_batch(mailbox, control, plain):
    side = mailbox.side(SyncObject.TASKS)
    side.changes(None)
    control.fault(operation="todo", status=429, error_code="TooManyRequests", retry_after=1, count=1)
    made = side.create([CreateRequest({"subject": "a"}), CreateRequest({"subject": "b"})])
    assert all(r.ok for r in made)
    assert sorted(t["title"] for t in plain.tasks()) == ["a", "b"]  # each created once
    assert mailbox.calls.by_operation["$batch"] == 2  # the batch, then the throttled request alone

    control.fault(operation="todo", status=429, error_code="TooManyRequests", retry_after=60, count=1)
    with pytest.raises(TransientError) as caught:
        side.create([CreateRequest({"subject": "c"})])
    assert caught.value.retry_after == pytest.approx(60.0)

    # a 503 may come after the work was done: an update is sent again, a create never (the engine's pending
    # link finds it by its stamp next run instead)
    control.fault(operation="todo", status=503, error_code="ServiceUnavailable", retry_after=1, count=1)
    assert side.update([UpdateRequest(made[0].record_id, {"subject": "a!"})])[0].ok
    control.fault(operation="todo", status=503, error_code="ServiceUnavailable", retry_after=1, count=1)
    with pytest.raises(TransientError) as caught:
        side.create([CreateRequest({"subject": "d"})])
    assert caught.value.code == "ServiceUnavailable"
    assert sorted(t["title"] for t in plain.tasks()) == ["a!", "b"]


def test_a_bad_item_fails_alone_in_a_batch(mailbox, plain):
    side = mailbox.side(SyncObject.CONTACTS)
    side.changes(None)
    made = side.create([CreateRequest({"last_name": "one"}), CreateRequest({"last_name": "two"})])
    results = side.update([
        UpdateRequest(made[0].record_id, {"last_name": "one!"}),
        UpdateRequest("not-an-id", {"last_name": "x"}),
        UpdateRequest(made[1].record_id, {"last_name": "two!"}),
    ])
    assert [r.ok for r in results] == [True, False, True]
    assert not results[1].error.transient
    assert sorted(c["surname"] for c in plain.contacts()) == ["one!", "two!"]


def test_call_budget_of_reads_and_counter_matches_the_server(mailbox, plain, control, email):
    side = mailbox.side(SyncObject.CONTACTS, ObjectOptions())
    mark = side.changes(None).watermark
    made = side.create([CreateRequest({"last_name": f"C{i}", "email": f"c{i}@x.test"}, f"003{i:015d}")
                        for i in range(230)])
    assert all(r.ok for r in made)
    assert mailbox.calls.by_operation["$batch"] == 12  # 230 creates, 20 per batch

    # many changes: their stamps come from one page of the folder's recently modified contacts, not 12 batches
    reader = GraphMailbox(mailbox.settings, email)
    changed = reader.side(SyncObject.CONTACTS).changes(mark)
    assert len(changed.records) == 230 and not changed.full
    assert {r.salesforce_id for r in changed.records.values()} == {f"003{i:015d}" for i in range(230)}
    assert reader.calls.by_operation == {"contacts/delta": 1, "contacts": 1}

    # a full read: the folder by name, one delta page, one page of stamps
    control.reset_stats()
    full_reader = GraphMailbox(mailbox.settings, email)
    full = full_reader.side(SyncObject.CONTACTS).changes(None)
    assert full.full and len(full.records) == 230
    assert all(r.salesforce_id for r in full.records.values())
    assert full_reader.calls.by_operation == {"contactFolders": 1, "contacts/delta": 1, "contacts": 1}
    assert control.calls(email) == 3 == sum(control.stats()["calls"].values())

    # a few changes: one batch of GETs
    plain.patch(f"/contacts/{made[0].record_id}", {"jobTitle": "Buyer"})
    few = GraphMailbox(mailbox.settings, email)
    one = few.side(SyncObject.CONTACTS).changes(full.watermark)
    assert set(one.records) == {made[0].record_id} and one.records[made[0].record_id].salesforce_id
    assert few.calls.by_operation == {"contacts/delta": 1, "$batch": 1}


def test_an_untrusted_certificate_needs_attention(settings, email):
    untrusted = dataclasses.replace(settings, verify=True)  # the system CAs do not know the sandbox's CA
    with pytest.raises(NeedsAttention) as caught:
        GraphMailbox(untrusted, email).check()
    assert caught.value.code == "tls_error" and "CA certificate" in caught.value.action


@pytest.mark.parametrize("field", ["authority_url", "graph_url"])
def test_plain_http_beyond_this_machine_is_refused_before_any_request(settings, field):
    """The last line of defence for a connection saved before the https rule: the app's credentials never go out."""
    insecure = dataclasses.replace(settings, **{field: "http://login.example.com"})
    mailbox = GraphMailbox(insecure, "ann@example.com")
    with pytest.raises(NeedsAttention) as caught:
        mailbox.check()
    assert caught.value.code == "insecure_url" and "https" in caught.value.action
    assert mailbox.calls.calls == 0
