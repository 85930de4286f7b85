"""Microsoft To Do tasks through the Graph connector: the default list, delta rounds, linked-resource stamps."""

import datetime as dt

from sync.connectors.graph import LINKED_APPLICATION
from sync.engine import CreateRequest, LookupRequest, SyncObject, UpdateRequest


def ours(task: dict) -> list[str]:
    return [r["externalId"] for r in task.get("linkedResources") or []
            if r.get("applicationName") == LINKED_APPLICATION]


def test_full_and_incremental_reads(mailbox, plain, control, email):
    side = mailbox.side(SyncObject.TASKS)
    first = side.changes(None)
    assert first.full and first.records == {}
    one = plain.add_task(title="Call Ann", importance="high", status="inProgress",
                         dueDateTime={"dateTime": "2026-05-01T00:00:00", "timeZone": "UTC"},
                         body={"contentType": "text", "content": "about the renewal"},
                         isReminderOn=True, reminderDateTime={"dateTime": "2026-04-30T08:00:00", "timeZone": "UTC"})
    round1 = mailbox.side(SyncObject.TASKS).changes(first.watermark)
    assert not round1.full and set(round1.records) == {one["id"]}
    assert round1.records[one["id"]].fields == {
        "subject": "Call Ann", "due_date": dt.date(2026, 5, 1), "status": "In Progress", "priority": "High",
        "reminder_at": dt.datetime(2026, 4, 30, 8, 0, tzinfo=dt.UTC), "description": "about the renewal"}

    plain.patch(f"/todo/lists/{plain.task_list()}/tasks/{one['id']}", {"status": "completed"})
    round2 = mailbox.side(SyncObject.TASKS).changes(round1.watermark)
    assert round2.records[one["id"]].fields["status"] == "Completed"
    plain.delete(f"/todo/lists/{plain.task_list()}/tasks/{one['id']}")
    round3 = mailbox.side(SyncObject.TASKS).changes(round2.watermark)
    assert round3.deleted == {one["id"]} and round3.records == {}

    control.reset_stats()
    before = mailbox.calls.calls
    quiet = mailbox.side(SyncObject.TASKS).changes(round3.watermark)
    assert quiet.records == {} and not quiet.deleted
    assert mailbox.calls.calls - before == 1 and control.calls(email) == 1


def test_create_stamp_lookup_update_delete(mailbox, plain):
    side = mailbox.side(SyncObject.TASKS)
    side.changes(None)
    made = side.create([CreateRequest({"subject": "From SF", "status": "Not Started", "priority": "Low",
                                       "due_date": dt.date(2026, 6, 1)}, "00T000000000001AAA"),
                        CreateRequest({"subject": "Unstamped"})])
    assert all(r.ok and r.record_id and r.version for r in made)
    tasks = {t["id"]: t for t in plain.tasks()}
    assert ours(tasks[made[0].record_id]) == ["00T000000000001AAA"] and ours(tasks[made[1].record_id]) == []
    assert tasks[made[0].record_id]["importance"] == "low"

    mine = plain.add_task(title="Made in To Do")
    stamped = side.update([UpdateRequest(mine["id"], None, "00T000000000002AAA"),
                           UpdateRequest(made[1].record_id, {"subject": "Renamed", "priority": "High"})])
    assert [r.ok for r in stamped] == [True, True]
    tasks = {t["id"]: t for t in plain.tasks()}
    assert ours(tasks[mine["id"]]) == ["00T000000000002AAA"] and tasks[mine["id"]]["title"] == "Made in To Do"
    assert tasks[made[1].record_id]["title"] == "Renamed" and tasks[made[1].record_id]["importance"] == "high"

    fresh = mailbox.side(SyncObject.TASKS)
    found = fresh.lookup(LookupRequest(SyncObject.TASKS, "00T000000000002AAA", {}, ()))
    assert [(r.id, r.salesforce_id) for r in found] == [(mine["id"], "00T000000000002AAA")]
    assert fresh.lookup(LookupRequest(SyncObject.TASKS, "00TNOPE", {}, ())) == []
    full = mailbox.side(SyncObject.TASKS).changes(None)
    assert {i: r.salesforce_id for i, r in full.records.items()} == {
        made[0].record_id: "00T000000000001AAA", made[1].record_id: None, mine["id"]: "00T000000000002AAA"}

    deleted = side.delete([made[0].record_id, made[0].record_id])
    assert [r.ok for r in deleted] == [True, True]  # deleting what is already gone succeeds
    assert {t["id"] for t in plain.tasks()} == {made[1].record_id, mine["id"]}
