"""Updates that never overwrite a Salesforce edit the engine has not seen (issue 20, item 4): with an expected
version they go through Composite, 25 to a call, as sObject Rows PATCHes with If-Unmodified-Since (a record changed
since answers 412: `CHANGED_DURING_SYNC`, transient); per-record errors map as sObject Collections' do; and the
read-back after the writes gives no version to a record that no longer holds what was written."""

import time

import pytest
from simple_salesforce.format import format_soql

from sync.connectors.base import NeedsAttention
from sync.connectors.salesforce.conditional import if_unmodified_since, still_as_written
from sync.engine import SyncObject, UpdateRequest
from sync.engine.apply import CHANGED_DURING_SYNC
from tests.connectors.salesforce.conftest import owned_by

CONTACTS = SyncObject.CONTACTS


def test_if_unmodified_since_is_the_versions_http_date_to_the_second():
    assert if_unmodified_since("2026-11-22T10:15:30.734+0000") == "Sun, 22 Nov 2026 10:15:30 GMT"
    assert if_unmodified_since("2026-11-22T11:15:30+01:00") == "Sun, 22 Nov 2026 10:15:30 GMT"
    assert if_unmodified_since(None) is None and if_unmodified_since("not a date") is None


def test_an_update_is_refused_when_the_record_changed_after_the_version_read(org, user):
    sf = org.sf(user)
    edited, untouched = (sf.Contact.create({"LastName": name, "Title": "Before"})["id"] for name in ("Ed", "Ute"))
    client = org.client(user)
    side = client.side(CONTACTS, owned_by(user))
    read = side.fetch([edited, untouched])
    time.sleep(1.1)  # Salesforce compares whole seconds
    sf.Contact.update(edited, {"Title": "The user's"})

    results = side.update([
        UpdateRequest(edited, {"last_name": "Ed", "title": "The sync's"}, expected_version=read[edited].version),
        UpdateRequest(untouched, {"last_name": "Ute", "title": "The sync's"},
                      expected_version=read[untouched].version),
    ])
    refused, written = results
    assert refused.record_id == edited and refused.error is not None
    assert (refused.error.code, refused.error.transient) == (CHANGED_DURING_SYNC, True)
    assert "next sync" in refused.error.message
    assert sf.Contact.get(edited)["Title"] == "The user's"  # not overwritten
    assert written.ok and sf.Contact.get(untouched)["Title"] == "The sync's"
    assert written.version == side.fetch([untouched])[untouched].version
    assert client.calls.by_operation["POST composite"] == 1
    assert "PATCH composite/sobjects" not in client.calls.by_operation


def test_conditional_updates_go_25_to_a_call_with_one_read_back_per_200(org, user):
    sf = org.sf(user)
    made = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
        {"attributes": {"type": "Contact"}, "LastName": f"Many {n}"} for n in range(60)]})
    ids = [row["id"] for row in made]
    client = org.client(user)
    side = client.side(CONTACTS, owned_by(user))
    versions = {record_id: record.version for record_id, record in side.fetch(ids).items()}
    before = dict(client.calls.by_operation)
    results = side.update([UpdateRequest(record_id, {"last_name": f"Many {n}", "title": "Bulk"},
                                         expected_version=versions[record_id]) for n, record_id in enumerate(ids)])
    calls = {op: n - before.get(op, 0) for op, n in client.calls.by_operation.items()}
    assert calls.get("POST composite") == 3 and calls.get("query") == 1
    assert [r.record_id for r in results] == ids and all(r.ok and r.version for r in results)
    rows = sf.query_all(format_soql("SELECT Id, Title, SystemModstamp FROM Contact WHERE Id IN {}", ids))["records"]
    assert {row["Id"]: row["SystemModstamp"] for row in rows} == {r.record_id: r.version for r in results}
    assert {row["Title"] for row in rows} == {"Bulk"}


def test_updates_without_an_expected_version_keep_sobject_collections(org, user):
    record_id = org.sf(user).Contact.create({"LastName": "Plain"})["id"]
    client = org.client(user)
    [result] = client.side(CONTACTS, owned_by(user)).update([UpdateRequest(record_id, {"last_name": "Plainer"})])
    assert result.ok and client.calls.by_operation["PATCH composite/sobjects"] == 1
    assert "POST composite" not in client.calls.by_operation


def test_per_record_errors_through_composite_are_those_of_collections(org, user):
    sf = org.sf(user)
    gone, bad = (sf.Contact.create({"LastName": name})["id"] for name in ("Gone", "Bad"))
    sf.Contact.delete(gone)
    side = org.client(user).side(CONTACTS, owned_by(user))
    stamp = "2026-01-01T00:00:00.000+0000"
    results = side.update([UpdateRequest(gone, {"last_name": "Gone"}, expected_version="2099-01-01T00:00:00.000Z"),
                           UpdateRequest(bad, {"last_name": "Bad", "email": "not an address"},
                                         expected_version="2099-01-01T00:00:00.000Z")])
    assert [r.error.code for r in results] == ["ENTITY_IS_DELETED", "INVALID_EMAIL_ADDRESS"]
    assert not any(r.error.transient for r in results)
    assert results[1].record_id == bad and "Email" in results[1].error.message
    [stale] = side.update([UpdateRequest(bad, {"last_name": "Bad"}, expected_version=stamp)])
    assert stale.error.code == CHANGED_DURING_SYNC


def test_a_profile_without_edit_needs_attention_through_composite_too(org):
    reader = org.user("Read Only")
    theirs = org.sf(org.user("Sales Manager")).Contact.create({"LastName": "Theirs", "OwnerId": reader.id})["id"]
    side = org.client(reader).side(CONTACTS, owned_by(reader))
    with pytest.raises(NeedsAttention) as failure:
        side.update([UpdateRequest(theirs, {"last_name": "Mine"},
                                   expected_version="2099-01-01T00:00:00.000Z")])
    assert failure.value.code == "MISSING_PERMISSION"


def test_a_record_changed_between_the_write_and_the_read_back_gets_no_version(org, user, monkeypatch):
    sf = org.sf(user)
    changed, kept = (sf.Contact.create({"LastName": name})["id"] for name in ("Changed", "Kept"))
    side = org.client(user).side(CONTACTS, owned_by(user))
    read = side.fetch([changed, kept])
    real = side._versions

    def a_user_saves_first(written):
        sf.Contact.update(changed, {"Title": "The user's"})  # after the sync's write, before its read-back
        return real(written)

    monkeypatch.setattr(side, "_versions", a_user_saves_first)
    results = side.update([UpdateRequest(record_id, {"last_name": name, "title": "The sync's"},
                                         expected_version=read[record_id].version)
                           for record_id, name in ((changed, "Changed"), (kept, "Kept"))])
    assert all(r.ok for r in results)
    assert results[0].version is None  # so the next run takes the user's title for a change
    assert results[1].version == side.fetch([kept])[kept].version
    assert sf.Contact.get(changed)["Title"] == "The user's"


def test_what_salesforce_stores_its_own_way_is_still_as_written():
    row = {"Id": "00U", "Subject": "Call", "StartDateTime": "2026-12-01T14:30:00.000+0000",
           "EndDateTime": "2026-12-01T15:00:00.000+0000", "DurationInMinutes": 30, "ShowAs": "Busy",
           "IsAllDayEvent": False, "IsPrivate": False, "Location": None, "Description": "a  note"}
    body = {"attributes": {"type": "Event"}, "Id": "00U", "Subject": "Call", "StartDateTime": "2026-12-01T14:30:00Z",
            "EndDateTime": "2026-12-01T15:00:00Z", "ShowAs": "Busy", "IsAllDayEvent": False, "IsPrivate": False,
            "Location": None, "Description": "a  note"}
    assert still_as_written(SyncObject.EVENTS, row, body)
    assert not still_as_written(SyncObject.EVENTS, {**row, "Subject": "Call (moved)"}, body)
    contact = {"Id": "003", "LastName": "Doe", "Email": "ann@example.com", "Account": {"Name": "Acme"}}
    assert still_as_written(CONTACTS, contact, {"LastName": "Doe", "Email": "Ann@Example.com"})
