"""Writes through sObject Collections: batches of 200, results in request order, per-record errors classified,
new versions read back, deletes of what is already gone, and missing permissions as NeedsAttention."""

from datetime import date

import pytest
from simple_salesforce.format import format_soql

from sync.connectors.base import NeedsAttention, ObjectOptions
from sync.engine import CreateRequest, SyncObject, UpdateRequest
from tests.connectors.salesforce.conftest import owned_by

CONTACTS = SyncObject.CONTACTS


def test_creates_go_in_batches_of_200_with_per_record_errors_in_order(org, user):
    client = org.client(user)
    client.user_info()
    side = client.side(CONTACTS, owned_by(user))
    requests = [CreateRequest({"first_name": "Bulk", "last_name": f"Person {i}", "email": f"p{i}@bulk.test"})
                for i in range(450)]
    requests[7] = CreateRequest({"first_name": "No last name"})
    requests[301] = CreateRequest({"last_name": "Long", "title": "x" * 129})
    before = dict(client.calls.by_operation)
    results = side.create(requests)
    assert len(results) == 450
    assert client.calls.by_operation["POST composite/sobjects"] - before.get("POST composite/sobjects", 0) == 3
    assert client.calls.by_operation["query"] - before.get("query", 0) == 3  # one version read-back per batch
    failed = {i: r.error for i, r in enumerate(results) if not r.ok}
    assert set(failed) == {7, 301}
    assert failed[7].code == "REQUIRED_FIELD_MISSING" and not failed[7].transient and "LastName" in failed[7].message
    assert failed[301].code == "STRING_TOO_LONG" and not failed[301].transient
    assert results[7].record_id is None
    created = {r.record_id: r.version for r in results if r.ok}
    rows = org.sf(user).query_all(format_soql(
        "SELECT Id, LastName, SystemModstamp FROM Contact WHERE OwnerId = {}", user.id))
    assert {row["Id"]: row["SystemModstamp"] for row in rows["records"]} == created
    assert results[0].record_id == next(row["Id"] for row in rows["records"] if row["LastName"] == "Person 0")


def test_the_version_of_a_write_is_what_the_next_read_reports(org, user):
    side = org.client(user).side(CONTACTS, owned_by(user))
    start = side.changes(None).watermark
    [created] = side.create([CreateRequest({"last_name": "Echo"})])
    record = side.changes(start).records[created.record_id]
    assert record.version == created.version  # so the engine recognises its own write
    [updated] = side.update([UpdateRequest(created.record_id, {"last_name": "Echo", "title": "CTO"})])
    assert updated.ok and updated.version >= created.version
    assert side.fetch([created.record_id])[created.record_id].version == updated.version


def test_updates_clear_fields_and_report_deleted_records_per_record(org, user):
    sf = org.sf(user)
    keep = sf.Contact.create({"LastName": "Keep", "Title": "CEO", "Phone": "123"})["id"]
    gone = sf.Contact.create({"LastName": "Gone"})["id"]
    sf.Contact.delete(gone)
    client = org.client(user)
    side = client.side(CONTACTS, owned_by(user))
    results = side.update([UpdateRequest(gone, {"last_name": "Gone"}),
                           UpdateRequest(keep, {"last_name": "Keep", "title": "CFO"}),
                           UpdateRequest(keep, None)])
    assert [r.ok for r in results] == [False, True, True]
    assert results[0].error.code == "ENTITY_IS_DELETED" and results[0].record_id == gone
    assert client.calls.by_operation["PATCH composite/sobjects"] == 1
    row = sf.Contact.get(keep)
    assert (row["Title"], row["Phone"]) == ("CFO", None)


def test_deleting_what_is_already_gone_succeeds(org, user):
    sf = org.sf(user)
    alive, deleted = (sf.Contact.create({"LastName": name})["id"] for name in ("Alive", "Deleted"))
    sf.Contact.delete(deleted)
    client = org.client(user)
    side = client.side(CONTACTS, owned_by(user))
    results = side.delete([alive, deleted])
    assert [r.ok for r in results] == [True, True]
    assert [r.record_id for r in results] == [alive, deleted]
    assert client.calls.by_operation["DELETE composite/sobjects"] == 1
    assert sf.query(format_soql("SELECT Id FROM Contact WHERE Id = {}", alive))["totalSize"] == 0


def test_events_and_tasks_are_written_as_salesforce_wants_them(org, user):
    client = org.client(user)
    events = client.side(SyncObject.EVENTS, owned_by(user))
    tasks = client.side(SyncObject.TASKS, owned_by(user))
    all_day, timed = events.create([
        CreateRequest({"subject": "Trade fair", "is_all_day": True, "start": date(2026, 12, 1),
                       "end": date(2026, 12, 4), "show_as": "out_of_office"}),
        CreateRequest({"subject": "Call", "start": "2026-12-01T09:30:00-05:00", "end": "2026-12-01T10:00:00-05:00",
                       "is_private": True, "show_as": "tentative"}),
    ])
    [task] = tasks.create([CreateRequest({"subject": "Send quote", "due_date": date(2026, 12, 2),
                                          "status": "In Progress", "priority": "high",
                                          "reminder_at": "2026-12-02T08:00:00+01:00"})])
    sf = org.sf(user)
    row = sf.Event.get(all_day.record_id)
    assert (row["IsAllDayEvent"], row["ActivityDate"], row["DurationInMinutes"], row["ShowAs"]) == \
        (True, "2026-12-01", 3 * 1440, "OutOfOffice")
    row = sf.Event.get(timed.record_id)
    assert (row["StartDateTime"], row["EndDateTime"], row["IsPrivate"], row["ShowAs"]) == \
        ("2026-12-01T14:30:00.000+0000", "2026-12-01T15:00:00.000+0000", True, "Busy")
    row = sf.Task.get(task.record_id)
    assert (row["ActivityDate"], row["Status"], row["Priority"], row["IsReminderSet"], row["ReminderDateTime"]) == \
        ("2026-12-02", "In Progress", "High", True, "2026-12-02T07:00:00.000+0000")


def test_a_record_the_user_may_not_edit_is_a_record_error_not_a_stop(org, user):
    """Sharing: the user sees a manager's event on the user's own account but may not edit it."""
    colleague = org.user("Sales Manager")
    account = org.sf(user).Account.create({"Name": "Shared Ltd"})["id"]
    theirs = org.sf(colleague).Event.create({"Subject": "Their meeting", "WhatId": account,
                                             "StartDateTime": "2026-12-01T09:00:00Z", "DurationInMinutes": 30})
    side = org.client(user).side(SyncObject.EVENTS, ObjectOptions(where=""))
    [result] = side.update([UpdateRequest(theirs["id"], {"subject": "Mine now", "start": "2026-12-01T09:00:00Z",
                                                         "end": "2026-12-01T09:30:00Z"})])
    assert result.error is not None
    assert result.error.code == "INSUFFICIENT_ACCESS_OR_READONLY" and not result.error.transient


def test_a_read_only_profile_needs_attention_instead_of_failing_every_record(org):
    reader = org.user("Read Only")
    client = org.client(reader)
    permissions = client.permissions(CONTACTS)
    assert (permissions.read, permissions.create, permissions.edit, permissions.delete) == \
        (True, False, False, False)
    side = client.side(CONTACTS, owned_by(reader))
    with pytest.raises(NeedsAttention) as failure:
        side.create([CreateRequest({"last_name": f"Nope {i}"}) for i in range(3)])
    assert failure.value.code == "MISSING_PERMISSION"
    assert "create Contact" in failure.value.message and "'Create' permission on Contact" in failure.value.action
    with pytest.raises(NeedsAttention, match="may not create or edit Contact"):
        client.require(CONTACTS, "create", "edit")
    client.require(CONTACTS)  # reading is allowed


def test_an_object_the_profile_cannot_read_needs_attention(org):
    minimal = org.user("Minimum Access")
    client = org.client(minimal)
    permissions = client.permissions(SyncObject.EVENTS)
    assert not any((permissions.read, permissions.create, permissions.edit, permissions.delete))
    with pytest.raises(NeedsAttention) as failure:
        client.side(SyncObject.EVENTS, owned_by(minimal)).changes(None)
    assert failure.value.code == "INVALID_TYPE"
    assert "Read permission on Event" in failure.value.action
    with pytest.raises(NeedsAttention, match="may not read Task"):
        client.require(SyncObject.TASKS)
