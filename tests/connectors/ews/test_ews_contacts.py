"""Contacts through the EWS connector against the sandbox, checked with plain exchangelib."""

from datetime import date

import pytest
from exchangelib import Contact
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress

from sync.connectors.base import NeedsAttention, ObjectOptions, TransientError
from sync.connectors.ews import SALESFORCE_ID_FIELD
from sync.engine import CreateRequest, LookupRequest, SyncObject, UpdateRequest
from sync.engine.records import Side

FOLDER = "Salesforce_Sync"


def folder_of(plain, name=FOLDER):
    return plain.contacts // name


def add_contact(plain, folder=None, **fields):
    fields.setdefault("display_name", " ".join(fields.get(k, "") for k in ("given_name", "surname")).strip())
    item = Contact(account=plain, folder=folder or folder_of(plain), **fields)
    item.save()
    return item


def test_first_sync_creates_the_folder_and_reads_everything(mailbox, plain):
    side = mailbox.side(SyncObject.CONTACTS)
    first = side.changes(None)
    assert first.full and first.records == {} and first.watermark
    assert side.side is Side.OUTLOOK
    folder = folder_of(plain)
    assert folder.folder_class == "IPF.Contact"
    outside = add_contact(plain, folder=plain.contacts, given_name="Not", surname="Synced")
    ann = add_contact(plain, given_name="Ann", surname="Lee", company_name="Acme", job_title="CFO",
                      department="Finance",
                      email_addresses=[EmailAddress(label="EmailAddress1", email="Ann@Acme.test")],
                      phone_numbers=[PhoneNumber(label="BusinessPhone", phone_number="+33 1 23"),
                                     PhoneNumber(label="MobilePhone", phone_number="+33 6 45")],
                      physical_addresses=[PhysicalAddress(label="Business", street="1 Rue X", city="Paris",
                                                          zipcode="75001", country="France")],
                      birthday=date(1980, 5, 17), body="Met at the fair")
    full = mailbox.side(SyncObject.CONTACTS).changes(None)
    assert full.full and set(full.records) == {ann.id}
    assert outside.id not in full.records
    record = full.records[ann.id]
    assert record.version == ann.changekey and record.in_scope
    assert record.fields == {
        "first_name": "Ann", "last_name": "Lee", "email": "ann@acme.test", "company": "Acme", "title": "CFO",
        "department": "Finance", "business_phone": "+33 1 23", "mobile_phone": "+33 6 45", "home_phone": None,
        "fax": None, "street": "1 Rue X", "city": "Paris", "state": None, "postal_code": "75001",
        "country": "France", "birthday": date(1980, 5, 17), "notes": "Met at the fair"}
    # a second "first" sync finds the folder and creates no other
    assert len([f for f in plain.contacts.children if f.name == FOLDER]) == 1


def test_incremental_rounds_report_creates_updates_deletes(mailbox, plain, control, email):
    side = mailbox.side(SyncObject.CONTACTS)
    mark = side.changes(None).watermark
    a = add_contact(plain, given_name="A", surname="One")
    b = add_contact(plain, given_name="B", surname="Two")
    round1 = mailbox.side(SyncObject.CONTACTS).changes(mark)
    assert not round1.full and set(round1.records) == {a.id, b.id} and not round1.deleted
    assert round1.records[a.id].fields["last_name"] == "One"

    a.surname = "Uno"
    a.save(update_fields=["surname"])
    b_id = b.id
    b.delete()
    c = add_contact(plain, given_name="C", surname="Three")
    round2 = mailbox.side(SyncObject.CONTACTS).changes(round1.watermark)
    assert set(round2.records) == {a.id, c.id} and round2.deleted == {b_id}
    assert round2.records[a.id].fields["last_name"] == "Uno"
    assert round2.records[a.id].version == folder_of(plain).get(id=a.id).changekey

    control.reset_stats()
    quiet_side = mailbox.side(SyncObject.CONTACTS)
    before = mailbox.calls.calls
    quiet = quiet_side.changes(round2.watermark)
    assert quiet.records == {} and quiet.deleted == set() and not quiet.full
    assert mailbox.calls.calls - before == 1
    assert control.stats()["calls"] == {"SyncFolderItems": 1}
    assert control.calls(email) == 1


def test_folder_removed_later_needs_attention_and_is_not_recreated(mailbox, plain, control, email):
    mark = mailbox.side(SyncObject.CONTACTS).changes(None).watermark
    control.delete_folder(email, FOLDER)
    with pytest.raises(NeedsAttention) as caught:
        mailbox.side(SyncObject.CONTACTS).changes(mark)
    assert caught.value.code == "contacts_folder_missing" and "recreate" in caught.value.action
    assert FOLDER not in [f.name for f in plain.contacts.children]


def test_a_recreated_folder_is_read_in_full(mailbox, plain, control, email):
    mark = mailbox.side(SyncObject.CONTACTS).changes(None).watermark
    control.delete_folder(email, FOLDER)
    assert mailbox.ensure_contacts_folder(FOLDER) is True
    assert mailbox.ensure_contacts_folder(FOLDER) is False
    d = add_contact(plain, given_name="D", surname="Four")
    again = mailbox.side(SyncObject.CONTACTS).changes(mark)
    assert again.full and set(again.records) == {d.id}


def test_stamp_lookup_and_bulk_writes(mailbox, plain):
    side = mailbox.side(SyncObject.CONTACTS)
    side.changes(None)
    results = side.create([
        CreateRequest({"first_name": "Eve", "last_name": "Stone", "email": "eve@x.test", "city": "Lyon"},
                      "003000000000001AAA"),
        CreateRequest({"last_name": "Solo"}, "003000000000002AAA"),
    ])
    assert all(r.ok and r.record_id and r.version for r in results)
    eve = folder_of(plain).get(id=results[0].record_id)
    assert getattr(eve, SALESFORCE_ID_FIELD) == "003000000000001AAA"
    assert eve.email_addresses[0].email == "eve@x.test" and eve.physical_addresses[0].city == "Lyon"
    assert eve.changekey == results[0].version

    found = mailbox.side(SyncObject.CONTACTS).lookup(LookupRequest(SyncObject.CONTACTS, "003000000000001AAA", {}, ()))
    assert [r.id for r in found] == [results[0].record_id]
    assert found[0].salesforce_id == "003000000000001AAA"
    assert mailbox.side(SyncObject.CONTACTS).lookup(LookupRequest(SyncObject.CONTACTS, "003NOPE", {}, ())) == []

    # stamp an item the user made (fields None: only the stamp), and update another, one id failing
    mine = add_contact(plain, given_name="Mia", surname="Own",
                       email_addresses=[EmailAddress(label="EmailAddress1", email="mia@x.test"),
                                        EmailAddress(label="EmailAddress2", email="mia@home.test")])
    missing = results[1].record_id
    side.delete([missing])
    updates = side.update([
        UpdateRequest(mine.id, None, "003000000000003AAA"),
        UpdateRequest(missing, {"last_name": "Gone"}),
        UpdateRequest(results[0].record_id, {"first_name": "Eve", "last_name": "Stone-Marsh", "email": "eve@y.test"}),
    ])
    assert updates[0].ok and updates[0].record_id == mine.id
    assert not updates[1].ok and updates[1].error.code == "ErrorItemNotFound" and not updates[1].error.transient
    assert updates[2].ok
    mine_now = folder_of(plain).get(id=mine.id)
    assert getattr(mine_now, SALESFORCE_ID_FIELD) == "003000000000003AAA" and mine_now.changekey == updates[0].version
    assert mine_now.given_name == "Mia"
    eve_now = folder_of(plain).get(id=results[0].record_id)
    assert eve_now.surname == "Stone-Marsh" and eve_now.physical_addresses is None
    assert [e.email for e in eve_now.email_addresses] == ["eve@y.test"]

    # an update through the connector never deletes the e-mail entries we do not map
    side.update([UpdateRequest(mine.id, {"first_name": "Mia", "last_name": "Own", "email": "mia@new.test"})])
    emails = {e.label: e.email for e in folder_of(plain).get(id=mine.id).email_addresses}
    assert emails == {"EmailAddress1": "mia@new.test", "EmailAddress2": "mia@home.test"}

    deleted = side.delete([results[0].record_id, missing])
    assert all(r.ok for r in deleted)
    assert [r.record_id for r in deleted] == [results[0].record_id, missing]
    assert mailbox.side(SyncObject.CONTACTS).fetch([results[0].record_id, mine.id]).keys() == {mine.id}


def test_excluded_addresses_are_out_of_scope(mailbox, plain):
    options = ObjectOptions(excluded_addresses=("boss@corp.test", "@rival.test"))
    side = mailbox.side(SyncObject.CONTACTS, options)
    mark = side.changes(None).watermark
    boss = add_contact(plain, surname="Boss", email_addresses=[EmailAddress(label="EmailAddress1",
                                                                            email="Boss@corp.test")])
    rival = add_contact(plain, surname="Rival", email_addresses=[EmailAddress(label="EmailAddress1",
                                                                              email="x@sales.rival.test")])
    ok = add_contact(plain, surname="Fine", email_addresses=[EmailAddress(label="EmailAddress1", email="a@b.test")])
    full = mailbox.side(SyncObject.CONTACTS, options).changes(None)
    assert set(full.records) == {ok.id}
    incremental = mailbox.side(SyncObject.CONTACTS, options).changes(mark)
    assert {i: r.in_scope for i, r in incremental.records.items()} == {boss.id: False, rival.id: False, ok.id: True}


def test_invalid_sync_state_falls_back_to_a_full_read(mailbox, plain):
    side = mailbox.side(SyncObject.CONTACTS)
    mark = side.changes(None).watermark
    a = add_contact(plain, surname="Kept")
    broken = mark.replace('"state":"', '"state":"garbage')
    again = mailbox.side(SyncObject.CONTACTS).changes(broken)
    assert again.full and set(again.records) == {a.id}
    assert mailbox.side(SyncObject.CONTACTS).changes("not json").full


def test_server_busy_is_transient_with_the_servers_back_off(mailbox, control):
    side = mailbox.side(SyncObject.CONTACTS)
    mark = side.changes(None).watermark
    control.fault(operation="SyncFolderItems", status=500, error_code="ErrorServerBusy", back_off_ms=30000)
    with pytest.raises(TransientError) as caught:
        mailbox.side(SyncObject.CONTACTS).changes(mark)
    assert caught.value.code == "ErrorServerBusy" and caught.value.retry_after == pytest.approx(30.0)

    control.fault(operation="CreateItem", status=500, error_code="ErrorServerBusy", back_off_ms=45000)
    with pytest.raises(TransientError) as caught:
        side.create([CreateRequest({"last_name": "Busy"})])
    assert caught.value.retry_after == pytest.approx(45.0)
