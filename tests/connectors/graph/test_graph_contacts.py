"""Contacts through the Graph connector against the emulator, checked with a plain Graph client."""

from datetime import date

import pytest

from sync.connectors.base import NeedsAttention, ObjectOptions, TransientError
from sync.connectors.graph import SALESFORCE_ID_PROPERTY, GraphMailbox
from sync.engine import CreateRequest, LookupRequest, SyncObject, UpdateRequest
from sync.engine.records import Side
from sync.mappings.graph import FAX_PROPERTY

FOLDER = "Salesforce_Sync"
STAMP = f"singleValueExtendedProperties($filter=id eq '{SALESFORCE_ID_PROPERTY}')"


def stamp_of(item: dict) -> str | None:
    props = item.get("singleValueExtendedProperties") or []
    return next((p["value"] for p in props if p["id"].lower() == SALESFORCE_ID_PROPERTY.lower()), None)


def test_first_sync_creates_the_folder_and_reads_everything(mailbox, plain):
    assert plain.folder_id() is None
    side = mailbox.side(SyncObject.CONTACTS)
    first = side.changes(None)
    assert first.full and first.records == {} and first.watermark
    assert side.side is Side.OUTLOOK and '"protocol":"graph"' in first.watermark
    assert plain.folder_id() is not None
    outside = plain.add_contact(folder=None, givenName="Not", surname="Synced")
    ann = plain.add_contact(
        givenName="Ann", surname="Lee", companyName="Acme", jobTitle="CFO", department="Finance",
        emailAddresses=[{"address": "Ann@Acme.test", "name": "Ann Lee"}], businessPhones=["+33 1 23"],
        mobilePhone="+33 6 45", businessAddress={"street": "1 Rue X", "city": "Paris", "postalCode": "75001",
                                                 "countryOrRegion": "France"},
        birthday="1980-05-17T00:00:00Z", personalNotes="Met at the fair",
        singleValueExtendedProperties=[{"id": FAX_PROPERTY, "value": "+33 1 99"}])
    full = mailbox.side(SyncObject.CONTACTS).changes(None)
    assert full.full and set(full.records) == {ann["id"]}
    assert outside["id"] not in full.records
    record = full.records[ann["id"]]
    assert record.version == plain.contact(ann["id"])["changeKey"] and record.in_scope
    assert record.fields == {
        "first_name": "Ann", "last_name": "Lee", "email": "ann@acme.test", "company": "Acme", "title": "CFO",
        "department": "Finance", "business_phone": "+33 1 23", "mobile_phone": "+33 6 45", "home_phone": None,
        "fax": "+33 1 99", "street": "1 Rue X", "city": "Paris", "state": None, "postal_code": "75001",
        "country": "France", "birthday": date(1980, 5, 17), "notes": "Met at the fair"}
    # a second "first" sync finds the folder and creates no other
    assert plain.folders().count(FOLDER) == 1


def test_incremental_rounds_report_creates_updates_deletes(mailbox, plain, control, email):
    mark = mailbox.side(SyncObject.CONTACTS).changes(None).watermark
    a = plain.add_contact(givenName="A", surname="One")
    b = plain.add_contact(givenName="B", surname="Two")
    round1 = mailbox.side(SyncObject.CONTACTS).changes(mark)
    assert not round1.full and set(round1.records) == {a["id"], b["id"]} and not round1.deleted
    assert round1.records[a["id"]].fields["last_name"] == "One"

    plain.patch(f"/contacts/{a['id']}", {"surname": "Uno"})
    plain.delete(f"/contacts/{b['id']}")
    c = plain.add_contact(givenName="C", surname="Three")
    round2 = mailbox.side(SyncObject.CONTACTS).changes(round1.watermark)
    assert set(round2.records) == {a["id"], c["id"]} and round2.deleted == {b["id"]}
    assert round2.records[a["id"]].fields["last_name"] == "Uno"
    assert round2.records[a["id"]].version == plain.contact(a["id"])["changeKey"]

    # nothing changed: exactly one delta request, no token request (msal's cache), none elsewhere
    control.reset_stats()
    quiet_mailbox = GraphMailbox(mailbox.settings, email)
    quiet = quiet_mailbox.side(SyncObject.CONTACTS).changes(round2.watermark)
    assert quiet.records == {} and quiet.deleted == set() and not quiet.full
    assert quiet_mailbox.calls.calls == 1 and quiet_mailbox.calls.by_operation == {"contacts/delta": 1}
    assert control.calls(email) == 1


def test_folder_removed_later_needs_attention_and_is_not_recreated(mailbox, plain):
    mark = mailbox.side(SyncObject.CONTACTS).changes(None).watermark
    plain.delete(f"/contactFolders/{plain.folder_id()}")
    with pytest.raises(NeedsAttention) as caught:
        mailbox.side(SyncObject.CONTACTS).changes(mark)
    assert caught.value.code == "contacts_folder_missing" and "recreate" in caught.value.action
    assert FOLDER not in plain.folders()


def test_a_recreated_folder_is_read_in_full(mailbox, plain):
    mark = mailbox.side(SyncObject.CONTACTS).changes(None).watermark
    plain.delete(f"/contactFolders/{plain.folder_id()}")
    assert mailbox.ensure_contacts_folder(FOLDER) is True
    assert mailbox.ensure_contacts_folder(FOLDER) is False
    d = plain.add_contact(givenName="D", surname="Four")
    again = mailbox.side(SyncObject.CONTACTS).changes(mark)
    assert again.full and set(again.records) == {d["id"]}


def test_stamp_lookup_and_bulk_writes(mailbox, plain):
    side = mailbox.side(SyncObject.CONTACTS)
    side.changes(None)
    results = side.create([
        CreateRequest({"first_name": "Eve", "last_name": "Stone", "email": "eve@x.test", "city": "Lyon",
                       "fax": "+1 555"}, "003000000000001AAA"),
        CreateRequest({"last_name": "Solo"}, "003000000000002AAA"),
    ])
    assert all(r.ok and r.record_id and r.version for r in results)
    eve = plain.contact(results[0].record_id, expand=STAMP)
    assert stamp_of(eve) == "003000000000001AAA"
    assert eve["emailAddresses"][0]["address"] == "eve@x.test" and eve["businessAddress"]["city"] == "Lyon"
    assert eve["changeKey"] == results[0].version and eve["displayName"] == "Eve Stone"
    assert eve["parentFolderId"] == plain.folder_id()

    found = mailbox.side(SyncObject.CONTACTS).lookup(LookupRequest(SyncObject.CONTACTS, "003000000000001AAA", {}, ()))
    assert [r.id for r in found] == [results[0].record_id]
    assert found[0].salesforce_id == "003000000000001AAA" and found[0].fields["fax"] == "+1 555"
    assert mailbox.side(SyncObject.CONTACTS).lookup(LookupRequest(SyncObject.CONTACTS, "003NOPE", {}, ())) == []

    # stamp an item the user made (fields None: only the stamp), and update another, one id failing
    mine = plain.add_contact(givenName="Mia", surname="Own", emailAddresses=[
        {"address": "mia@x.test", "name": "Mia"}, {"address": "mia@home.test", "name": "Mia at home"}])
    missing = results[1].record_id
    side.delete([missing])
    updates = side.update([
        UpdateRequest(mine["id"], None, "003000000000003AAA"),
        UpdateRequest(missing, {"last_name": "Gone"}),
        UpdateRequest(results[0].record_id, {"first_name": "Eve", "last_name": "Stone-Marsh", "email": "eve@y.test"}),
    ])
    assert updates[0].ok and updates[0].record_id == mine["id"]
    assert not updates[1].ok and updates[1].error.code == "ErrorItemNotFound" and not updates[1].error.transient
    assert updates[2].ok
    mine_now = plain.contact(mine["id"], expand=STAMP)
    assert stamp_of(mine_now) == "003000000000003AAA" and mine_now["changeKey"] == updates[0].version
    assert mine_now["givenName"] == "Mia"
    eve_now = plain.contact(results[0].record_id)
    assert eve_now["surname"] == "Stone-Marsh" and not (eve_now.get("businessAddress") or {}).get("city")
    assert [e["address"] for e in eve_now["emailAddresses"]] == ["eve@y.test"]

    # an update through the connector never drops the e-mail addresses we do not map (a fresh connector has not
    # read the contact: it reads the collections first)
    fresh = mailbox.side(SyncObject.CONTACTS)
    assert fresh.update([UpdateRequest(mine["id"], {"first_name": "Mia", "last_name": "Own",
                                                    "email": "mia@new.test"})])[0].ok
    assert [e["address"] for e in plain.contact(mine["id"])["emailAddresses"]] == ["mia@new.test", "mia@home.test"]

    deleted = side.delete([results[0].record_id, missing])
    assert all(r.ok for r in deleted)
    assert [r.record_id for r in deleted] == [results[0].record_id, missing]
    assert mailbox.side(SyncObject.CONTACTS).fetch([results[0].record_id, mine["id"]]).keys() == {mine["id"]}


def test_an_edit_in_outlook_between_read_and_write_is_a_transient_conflict(mailbox, plain):
    side = mailbox.side(SyncObject.CONTACTS)
    side.changes(None)
    item = plain.add_contact(givenName="Before", surname="Edit")
    side.fetch([item["id"]])  # the connector now knows the item's etag
    plain.patch(f"/contacts/{item['id']}", {"jobTitle": "Edited in Outlook"})
    results = side.update([UpdateRequest(item["id"], {"first_name": "From", "last_name": "Salesforce"})])
    assert results[0].error is not None and results[0].error.transient
    assert plain.contact(item["id"])["jobTitle"] == "Edited in Outlook"


def test_excluded_addresses_are_out_of_scope(mailbox, plain):
    options = ObjectOptions(excluded_addresses=("boss@corp.test", "@rival.test"))
    mark = mailbox.side(SyncObject.CONTACTS, options).changes(None).watermark
    boss = plain.add_contact(surname="Boss", emailAddresses=[{"address": "Boss@corp.test"}])
    rival = plain.add_contact(surname="Rival", emailAddresses=[{"address": "x@sales.rival.test"}])
    ok = plain.add_contact(surname="Fine", emailAddresses=[{"address": "a@b.test"}])
    full = mailbox.side(SyncObject.CONTACTS, options).changes(None)
    assert set(full.records) == {ok["id"]}
    incremental = mailbox.side(SyncObject.CONTACTS, options).changes(mark)
    assert {i: r.in_scope for i, r in incremental.records.items()} == {boss["id"]: False, rival["id"]: False,
                                                                        ok["id"]: True}


def test_expired_delta_token_falls_back_to_a_full_read(mailbox, plain, control):
    mark = mailbox.side(SyncObject.CONTACTS).changes(None).watermark
    a = plain.add_contact(surname="Kept")
    control.expire_delta()
    again = mailbox.side(SyncObject.CONTACTS).changes(mark)
    assert again.full and set(again.records) == {a["id"]}
    assert plain.folders().count(FOLDER) == 1
    assert mailbox.side(SyncObject.CONTACTS).changes("not json").full


def test_a_foreign_watermark_means_a_full_read_never_a_first_sync(mailbox, plain):
    ews_state = '{"v":1,"state":"H4sIAAAAAAAEAGNgYGBkYGBg","folder":"AAMkAGI2"}'
    # no folder yet: an EWS watermark is not a first sync, so the folder is not created behind anyone's back
    with pytest.raises(NeedsAttention) as caught:
        mailbox.side(SyncObject.CONTACTS).changes(ews_state)
    assert caught.value.code == "contacts_folder_missing" and FOLDER not in plain.folders()
    mailbox.ensure_contacts_folder(FOLDER)
    stamped = plain.add_contact(surname="Migrated", singleValueExtendedProperties=[
        {"id": SALESFORCE_ID_PROPERTY, "value": "003000000000009AAA"}])
    full = mailbox.side(SyncObject.CONTACTS).changes(ews_state)
    assert full.full and full.records[stamped["id"]].salesforce_id == "003000000000009AAA"
    # an events watermark is not a contacts watermark either
    events_mark = mailbox.side(SyncObject.EVENTS).changes(None).watermark
    assert mailbox.side(SyncObject.CONTACTS).changes(events_mark).full


def test_throttling_short_retry_after_is_waited_long_one_is_raised(mailbox, control, email):
    mark = mailbox.side(SyncObject.CONTACTS).changes(None).watermark
    control.reset_stats()
    control.fault(operation="contactFolders", status=429, error_code="TooManyRequests", retry_after=1, count=1)
    before = mailbox.calls.by_operation.get("contacts/delta", 0)
    quiet = mailbox.side(SyncObject.CONTACTS).changes(mark)
    assert quiet.records == {} and mailbox.calls.by_operation["contacts/delta"] - before == 2
    assert control.calls(email) == 2

    control.fault(operation="contactFolders", status=429, error_code="TooManyRequests", retry_after=30, count=1)
    with pytest.raises(TransientError) as caught:
        mailbox.side(SyncObject.CONTACTS).changes(mark)
    assert caught.value.code == "TooManyRequests" and caught.value.retry_after == pytest.approx(30.0)

    control.fault(operation="contacts", status=503, error_code="ServiceUnavailable", retry_after=45, count=1)
    side = mailbox.side(SyncObject.CONTACTS)
    with pytest.raises(TransientError) as caught:
        side.update([UpdateRequest("AAMkAGI2", {"last_name": "Busy"})])
    assert caught.value.retry_after == pytest.approx(45.0)


def test_a_contact_made_between_the_delta_round_and_the_stamp_pages_is_read_whole(mailbox, plain, monkeypatch):
    side = mailbox.side(SyncObject.CONTACTS)
    side.changes(None)
    late = plain.add_contact(surname="Late", singleValueExtendedProperties=[
        {"id": SALESFORCE_ID_PROPERTY, "value": "003000000000007AAA"}, {"id": FAX_PROPERTY, "value": "+1 7"}])
    reader = mailbox.side(SyncObject.CONTACTS)
    real = reader._list_extras
    monkeypatch.setattr(reader, "_list_extras", lambda **kw: {k: v for k, v in real(**kw).items() if k != late["id"]})
    full = reader.changes(None)
    record = full.records[late["id"]]
    assert record.salesforce_id == "003000000000007AAA" and record.fields["fax"] == "+1 7"


def test_a_folder_deleted_in_the_middle_of_a_run_needs_attention(mailbox, plain):
    side = mailbox.side(SyncObject.CONTACTS)
    side.changes(None)
    plain.delete(f"/contactFolders/{plain.folder_id()}")
    with pytest.raises(NeedsAttention) as caught:
        side.lookup(LookupRequest(SyncObject.CONTACTS, "003000000000001AAA", {}, ()))
    assert caught.value.code == "contacts_folder_missing"
    results = side.create([CreateRequest({"last_name": "Nowhere"}, "003000000000001AAA")])
    assert not results[0].ok and not results[0].error.transient
    assert FOLDER not in plain.folders()
