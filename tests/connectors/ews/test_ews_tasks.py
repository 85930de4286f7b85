"""Tasks through the EWS connector: the default tasks folder, status/priority/reminder mapping, incremental reads."""

import datetime as dt

from exchangelib import EWSDate, EWSDateTime, EWSTimeZone, Task

from sync.connectors.ews import SALESFORCE_ID_FIELD
from sync.engine import CreateRequest, SyncObject, UpdateRequest
from sync.engine.canonical import schema_for

TASKS = schema_for(SyncObject.TASKS)
UTC = dt.UTC


def add_task(plain, **fields):
    item = Task(account=plain, folder=plain.tasks, **fields)
    item.save()
    return item


def test_full_and_incremental_task_reads(mailbox, plain, control, email):
    side = mailbox.side(SyncObject.TASKS)
    first = side.changes(None)
    assert first.full and first.records == {}
    call = add_task(plain, subject="Call Ann", due_date=EWSDate(2026, 3, 9), status="WaitingOnOthers",
                    importance="High", reminder_is_set=True,
                    reminder_due_by=EWSDateTime(2026, 3, 9, 8, tzinfo=EWSTimeZone("Europe/Paris")), body="About Q2")
    report = add_task(plain, subject="Report", status="Completed", importance="Low")
    round1 = mailbox.side(SyncObject.TASKS).changes(first.watermark)
    assert set(round1.records) == {call.id, report.id} and not round1.full
    assert round1.records[call.id].fields == {
        "subject": "Call Ann", "due_date": dt.date(2026, 3, 9), "status": "Waiting on someone else",
        "priority": "High", "reminder_at": dt.datetime(2026, 3, 9, 7, tzinfo=UTC), "description": "About Q2"}
    assert round1.records[report.id].fields["status"] == "Completed"
    assert round1.records[report.id].fields["priority"] == "Low"

    report_id = report.id
    report.delete()
    control.reset_stats()
    round2 = mailbox.side(SyncObject.TASKS).changes(round1.watermark)
    assert round2.deleted == {report_id} and round2.records == {}
    assert control.stats()["calls"] == {"SyncFolderItems": 1}
    control.reset_stats()
    quiet = mailbox.side(SyncObject.TASKS).changes(round2.watermark)
    assert quiet.records == {} and quiet.deleted == set()
    assert control.calls(email) == 1

    full = mailbox.side(SyncObject.TASKS).changes(None)
    assert full.full and set(full.records) == {call.id}


def test_task_writes_round_trip(mailbox, plain):
    side = mailbox.side(SyncObject.TASKS)
    side.changes(None)
    wanted = {"subject": "Send offer", "due_date": dt.date(2026, 4, 1), "status": "In Progress",
              "priority": "High", "reminder_at": dt.datetime(2026, 3, 31, 16, 30, tzinfo=UTC),
              "description": "Offer v2\nwith discount"}
    created = side.create([CreateRequest(wanted, "00T000000000001AAA"),
                           CreateRequest({"subject": "Plain", "status": "nonsense", "priority": None})])
    assert all(r.ok for r in created)
    task = plain.tasks.get(id=created[0].record_id)
    assert task.status == "InProgress" and task.importance == "High" and task.due_date == EWSDate(2026, 4, 1)
    assert task.reminder_is_set and getattr(task, SALESFORCE_ID_FIELD) == "00T000000000001AAA"
    plain_task = plain.tasks.get(id=created[1].record_id)
    assert plain_task.status == "NotStarted" and plain_task.importance == "Normal"

    back = mailbox.side(SyncObject.TASKS).fetch([created[0].record_id])[created[0].record_id]
    assert TASKS.canonicalize(back.fields) == TASKS.canonicalize(wanted)

    done = {**wanted, "status": "Completed", "reminder_at": None}
    result = side.update([UpdateRequest(created[0].record_id, done)])
    assert result[0].ok
    task = plain.tasks.get(id=created[0].record_id)
    assert task.status == "Completed" and task.percent_complete == 100 and not task.reminder_is_set
