"""Connection-level behaviour: check(), error classification, retries, call budget, TLS trust, per-item errors."""

import dataclasses
import threading

import pytest
from exchangelib import Contact, Task
from exchangelib.indexed_properties import EmailAddress

from sandbox.runner import start_sandbox
from sync.connectors.base import EwsSettings, NeedsAttention, ObjectOptions, TransientError
from sync.connectors.ews import EwsMailbox, build_configuration
from sync.engine import CreateRequest, SyncObject, UpdateRequest


def test_check_reports_the_contacts_folder(mailbox):
    assert mailbox.check() == {"ok": True, "mailbox": mailbox.mailbox, "contacts_folder": "Salesforce_Sync",
                               "contacts_folder_present": False}
    mailbox.side(SyncObject.CONTACTS).changes(None)
    assert mailbox.check()["contacts_folder_present"] is True


def test_missing_mailbox_wrong_password_and_denied_impersonation_need_attention(settings, email):
    with pytest.raises(NeedsAttention) as caught:
        EwsMailbox(settings, "nobody@sandbox.test").check()
    assert caught.value.code == "mailbox_not_found"

    wrong = dataclasses.replace(settings, password="wrong")
    with pytest.raises(NeedsAttention) as caught:
        EwsMailbox(wrong, email).side(SyncObject.TASKS).changes(None)
    assert caught.value.code == "unauthorized" and "password" in caught.value.action

    # an ordinary user (not the service account) may not impersonate someone else
    other = dataclasses.replace(settings, username=email, password="sandbox")
    with pytest.raises(NeedsAttention) as caught:
        EwsMailbox(other, "someone-else@sandbox.test").side(SyncObject.TASKS).changes(None)
    assert caught.value.code == "impersonation_denied" and "ApplicationImpersonation" in caught.value.action


def test_short_back_off_is_retried_inside_the_call(mailbox, control, email):
    mark = mailbox.side(SyncObject.TASKS).changes(None).watermark
    control.reset_stats()
    control.fault(operation="SyncFolderItems", status=500, error_code="ErrorServerBusy", back_off_ms=200)
    quiet = mailbox.side(SyncObject.TASKS).changes(mark)
    assert quiet.records == {}
    assert control.stats()["calls"] == {"SyncFolderItems": 2}
    assert mailbox.calls.by_operation["SyncFolderItems"] >= 3  # the full read's one, then the busy one and its retry


def test_per_message_server_busy_in_a_write_raises_transient(mailbox, control):
    side = mailbox.side(SyncObject.TASKS)
    side.changes(None)
    control.fault(operation="CreateItem", status=200, error_code="ErrorServerBusy")
    with pytest.raises(TransientError) as caught:
        side.create([CreateRequest({"subject": "a"}), CreateRequest({"subject": "b"})])
    assert caught.value.code == "ErrorServerBusy"


def test_a_bad_item_fails_alone_in_a_batch(mailbox, plain):
    side = mailbox.side(SyncObject.TASKS)
    side.changes(None)
    made = side.create([CreateRequest({"subject": "one"}), CreateRequest({"subject": "two"})])
    results = side.update([
        UpdateRequest(made[0].record_id, {"subject": "one!"}),
        UpdateRequest("not-an-id", {"subject": "x"}),
        UpdateRequest(made[1].record_id, {"subject": "two!"}),
    ])
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error.code == "ErrorInvalidIdMalformed" and not results[1].error.transient
    assert {t.subject for t in plain.tasks.all()} == {"one!", "two!"}
    deleted = side.delete([made[0].record_id, "not-an-id", made[0].record_id])
    assert [r.ok for r in deleted] == [True, False, True]  # deleting what is already gone succeeds


def test_an_edit_in_outlook_between_read_and_write_is_a_transient_conflict(mailbox, plain):
    side = mailbox.side(SyncObject.TASKS)
    item = Task(account=plain, folder=plain.tasks, subject="Before")
    item.save()
    side.changes(None)  # the connector now knows the item's change key
    item.subject = "Edited in Outlook"
    item.save(update_fields=["subject"])
    results = side.update([UpdateRequest(item.id, {"subject": "From Salesforce"})])
    assert results[0].error is not None
    assert results[0].error.code == "ErrorIrresolvableConflict" and results[0].error.transient
    assert plain.tasks.get(id=item.id).subject == "Edited in Outlook"


def test_call_budget_of_a_full_read_and_counter_matches_the_server(mailbox, plain, control, email):
    side = mailbox.side(SyncObject.CONTACTS, ObjectOptions())
    side.changes(None)
    folder = plain.contacts // "Salesforce_Sync"
    plain.bulk_create(folder=folder, items=[
        Contact(display_name=f"C{i}", surname=f"C{i}",
                email_addresses=[EmailAddress(label="EmailAddress1", email=f"c{i}@x.test")]) for i in range(230)])
    control.reset_stats()
    before = mailbox.calls.calls
    full = mailbox.side(SyncObject.CONTACTS).changes(None)
    assert len(full.records) == 230
    # FindFolder (the folder by name) + SyncFolderItems (512 per page) + GetItem (100 per call)
    assert control.stats()["calls"] == {"FindFolder": 1, "SyncFolderItems": 1, "GetItem": 3}
    assert mailbox.calls.calls - before == 5 == control.calls(email)


def test_tls_trust_from_a_ca_bundle(tmp_path, settings):
    running = start_sandbox(tmp_path / "tls", seed="empty", exchange_https=True)
    try:
        email = running.hub.exchange.create_mailbox(email="tls@sandbox.test", display_name="TLS")
        secure = dataclasses.replace(settings, ews_url=running.ews_endpoint, verify=str(running.ca_path))
        assert build_configuration(secure).service_endpoint.startswith("https://")
        assert EwsMailbox(secure, email).side(SyncObject.TASKS).changes(None).full
        untrusted = dataclasses.replace(settings, ews_url=running.ews_endpoint.replace("127.0.0.1", "localhost"))
        with pytest.raises(NeedsAttention) as caught:
            EwsMailbox(untrusted, email).side(SyncObject.TASKS).changes(None)
        assert caught.value.code == "tls_error"
    finally:
        running.stop()


def test_iis_error_page_is_transient(mailbox, control):
    mark = mailbox.side(SyncObject.TASKS).changes(None).watermark
    control.fault(operation="SyncFolderItems", status=500, count=3)
    with pytest.raises(TransientError):
        mailbox.side(SyncObject.TASKS).changes(mark)


@pytest.mark.parametrize("url", ["http://mail.example.com/EWS/Exchange.asmx", "http://10.1.2.3/EWS/Exchange.asmx",
                                 "http://127.0.0.1.attacker.example/EWS/Exchange.asmx"])
def test_plain_http_beyond_this_machine_is_refused_before_any_request(url):
    """The last line of defence for a connection saved before the https rule: the password never goes out."""
    settings = EwsSettings(ews_url=url, username="svc@example.com", password="secret")
    with pytest.raises(NeedsAttention) as caught:
        build_configuration(settings)
    assert caught.value.code == "insecure_url" and "https" in caught.value.action
    with pytest.raises(NeedsAttention):
        EwsMailbox(settings, "ann@example.com").check()


@pytest.mark.parametrize("url", ["http://127.0.0.1:8444/EWS/Exchange.asmx", "http://localhost/EWS/Exchange.asmx",
                                 "http://[::1]:8444/EWS/Exchange.asmx", "https://mail.example.com/EWS/Exchange.asmx"])
def test_https_or_this_machine_is_accepted(url):
    settings = EwsSettings(ews_url=url, username="svc@example.com", password="secret")
    assert build_configuration(settings).service_endpoint == url


def test_a_throttled_call_with_every_session_in_use_does_not_deadlock():
    """exchangelib shrinks its session pool after a throttling answer; its own code waited, holding the pool's lock,
    for a session to discard, and with none idle waited for itself forever (and every thread of the protocol after
    it). An idle session is discarded; with none idle the pool stays as it is."""
    from exchangelib.protocol import Protocol

    settings = EwsSettings(ews_url="https://127.0.0.1:9/EWS/Exchange.asmx", username="svc@example.com",
                           password="secret")
    protocol = Protocol(config=build_configuration(settings))
    protocol.max_connections = 3
    in_use = [protocol.get_session(), protocol.get_session()]
    shrinking = threading.Thread(target=protocol.decrease_poolsize, daemon=True)
    shrinking.start()
    shrinking.join(timeout=10)
    assert not shrinking.is_alive(), "decrease_poolsize waited for a session in use"
    assert protocol.session_pool_size == 2
    protocol.release_session(in_use.pop())
    protocol.decrease_poolsize()  # an idle one now: discarded
    assert protocol.session_pool_size == 1 and protocol._session_pool.qsize() == 0
    thread = threading.Thread(target=lambda: in_use.append(protocol.get_session()), daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), "the pool's lock was left held"
