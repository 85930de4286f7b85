"""Fault injection (per operation: ErrorServerBusy with back-off, HTTP 500, latency, per-message errors), stats,
and the rest of the /_sandbox/ control API."""

import time

import pytest
import requests
from exchangelib import Contact, FailFast, FaultTolerance
from exchangelib.errors import ErrorInvalidSyncStateData, ErrorItemNotFound, ErrorServerBusy

from .conftest import make_account


def test_server_busy_with_back_off_fails_fast(account, control):
    folder = account.contacts
    r = control.post("/faults", {"operation": "CreateItem", "status": 500, "error_code": "ErrorServerBusy",
                                 "back_off_ms": 30000, "count": 1})
    assert r.status_code == 201
    with pytest.raises(ErrorServerBusy) as exc:
        Contact(folder=folder, display_name="Blocked").save()
    assert exc.value.back_off == 30
    # count=1: the next CreateItem goes through, and other operations were never affected.
    Contact(folder=folder, display_name="Allowed").save()
    assert [c.display_name for c in folder.all()] == ["Allowed"]


def test_fault_tolerant_policy_waits_out_the_back_off(sandbox, mailbox, control):
    acc = make_account(sandbox, mailbox)
    # Protocols are shared per endpoint and credentials: switch the policy for this test only.
    acc.protocol.config.retry_policy = FaultTolerance(max_wait=10)
    try:
        folder = acc.contacts
        control.post("/faults", {"operation": "FindItem", "status": 500, "error_code": "ErrorServerBusy",
                                 "back_off_ms": 400, "count": 2})
        started = time.monotonic()
        assert folder.all().count() == 0
        assert time.monotonic() - started >= 0.8
    finally:
        acc.protocol.config.retry_policy = FailFast()


def test_plain_http_500_and_wildcard(account, control):
    folder = account.contacts
    control.post("/faults", {"operation": "*", "status": 500, "count": 1})
    with pytest.raises(ErrorServerBusy, match="Server Error in 'EWS' Application"):
        folder.all().count()  # exchangelib turns IIS's error page into a transient error, then ErrorServerBusy
    assert folder.all().count() == 0


def test_latency_and_per_message_error(account, control):
    c = Contact(folder=account.contacts, display_name="Slow")
    c.save()
    control.post("/faults", {"operation": "GetItem", "status": 200, "latency_ms": 400, "count": 1})
    started = time.monotonic()
    assert account.contacts.get(id=c.id).display_name == "Slow"
    assert time.monotonic() - started >= 0.4
    control.post("/faults", {"operation": "GetItem", "status": 200, "error_code": "ErrorItemNotFound", "count": 1})
    with pytest.raises(ErrorItemNotFound):
        account.contacts.get(id=c.id)
    assert account.contacts.get(id=c.id).display_name == "Slow"


def test_fault_api_validation(control):
    assert control.post("/faults", {"status": 500}).status_code == 400
    assert control.post("/faults", {"operation": "GetItem", "status": 404}).status_code == 400
    assert control.post("/faults", {"operation": "GetItem", "bogus": 1}).status_code == 400
    control.post("/faults", {"operation": "GetItem", "count": 3})
    assert len(control.get("/faults").json()["faults"]) == 1
    assert control.delete("/faults").json() == {"faults": []}
    assert control.get("/nope").status_code == 404


def test_stats_per_operation_and_mailbox(account, mailbox, control):
    before = control.get("/stats").json()
    Contact(folder=account.contacts, display_name="Counted").save()
    after = control.get("/stats").json()
    assert after["calls"]["CreateItem"] == before["calls"].get("CreateItem", 0) + 1
    assert after["calls_by_user"][mailbox] >= 2  # GetFolder + CreateItem at least


def test_mailbox_inspection_and_folder_deletion(account, mailbox, control):
    from exchangelib.folders import Contacts

    sub = Contacts(parent=account.contacts, name="Salesforce_Sync")
    sub.save()
    Contact(folder=sub, display_name="Inside").save()
    box = control.get(f"/mailboxes/{mailbox}").json()
    folder = next(f for f in box["folders"] if f["name"] == "Salesforce_Sync")
    assert [i["subject"] for i in folder["items"]] == ["Inside"]
    assert control.delete(f"/mailboxes/{mailbox}/folders/{folder['id']}").status_code == 200
    contacts = next(f for f in box["folders"] if f["distinguished"] == "contacts")
    assert control.delete(f"/mailboxes/{mailbox}/folders/{contacts['id']}").status_code == 400
    assert mailbox in {m["mailbox"] for m in control.get("/mailboxes").json()["mailboxes"]}


def test_users_and_reset(tmp_path, spawn):
    running = spawn(tmp_path, seed="empty")
    try:
        base = f"{running.exchange_url}/_sandbox"
        r = requests.post(base + "/users", json={"username": "new.rep@sandbox.test", "email": "new.rep@sandbox.test",
                                                 "first_name": "New", "last_name": "Rep",
                                                 "profile": "Standard User"}, timeout=30)
        assert r.status_code == 201, r.text
        assert r.json()["mailbox"] == "new.rep@sandbox.test" and r.json()["salesforce_id"]
        acc = make_account(running, "amelia.hart@sandbox.test")
        gone = Contact(folder=acc.contacts, display_name="Gone after reset")
        gone.save()
        folder = acc.contacts
        list(folder.sync_items(only_fields=["display_name"]))
        old_state = folder.item_sync_state
        assert requests.post(base + "/users", json={"email": "x"}, timeout=30).status_code == 400
        assert requests.post(base + "/reset", timeout=30).status_code == 200
        assert "new.rep@sandbox.test" not in running.hub.exchange.mailboxes
        assert "amelia.hart@sandbox.test" in running.hub.exchange.mailboxes
        assert requests.get(base + "/stats", timeout=30).json() == {"calls": {}, "calls_by_user": {}}
        # Ids and sync states from before the reset mean nothing afterwards.
        fresh = make_account(running, "amelia.hart@sandbox.test")
        again = Contact(folder=fresh.contacts, display_name="New after reset")
        again.save()
        assert again.id != gone.id
        with pytest.raises(ErrorItemNotFound):
            fresh.contacts.get(id=gone.id)
        fresh.contacts.item_sync_state = old_state
        with pytest.raises(ErrorInvalidSyncStateData):
            list(fresh.contacts.sync_items(only_fields=["display_name"]))
    finally:
        running.stop()
