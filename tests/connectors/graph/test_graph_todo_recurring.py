"""Recurring To Do tasks through the Graph connector, against the sandbox in both behaviours reported for To Do
(sandbox/graph/todo.py): the task itself moves on to its next occurrence (the default), or the task stays completed
and the next occurrence is a new task (the mailbox quirk `todo_completion_creates_next_task`). Either way the
connector's completing PATCH and its next delta round give the engine what it needs: the task written, and the
other task, which carries a copy of the Salesforce id."""

import datetime as dt

from sync.connectors.graph import LINKED_APPLICATION
from sync.engine import SyncObject, UpdateRequest

MONDAY = dt.date(2027, 3, 1)
SF_ID = "00T000000000007AAA"


def _recurring_task(plain) -> dict:
    return plain.add_task(title="Weekly report", status="notStarted",
                          dueDateTime={"dateTime": f"{MONDAY.isoformat()}T00:00:00", "timeZone": "UTC"},
                          recurrence={"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                                      "range": {"type": "noEnd", "startDate": MONDAY.isoformat()}},
                          linkedResources=[{"applicationName": LINKED_APPLICATION, "displayName": "Salesforce",
                                            "externalId": SF_ID}])


def _complete(side, task_id: str):
    (result,) = side.update([UpdateRequest(task_id, {"subject": "Weekly report", "status": "Completed",
                                                     "due_date": MONDAY})])
    assert result.ok, result.error
    return result


def _shape(changes) -> dict[str, tuple]:
    return {i: (r.fields["status"], r.fields["due_date"], r.salesforce_id) for i, r in changes.records.items()}


def test_the_task_moves_on_and_the_completed_occurrence_arrives_as_a_new_task(mailbox, plain):
    task = _recurring_task(plain)
    side = mailbox.side(SyncObject.TASKS)
    first = side.changes(None)
    assert _shape(first) == {task["id"]: ("Not Started", MONDAY, SF_ID)}

    result = _complete(side, task["id"])
    assert result.version is None  # answered as the next occurrence: no version, so the next read sees the move
    later = mailbox.side(SyncObject.TASKS).changes(first.watermark)
    shape = _shape(later)
    assert shape.pop(task["id"]) == ("Not Started", MONDAY + dt.timedelta(weeks=1), SF_ID)
    assert list(shape.values()) == [("Completed", MONDAY, SF_ID)]  # the split-off copy


def test_the_task_stays_completed_and_the_next_occurrence_arrives_as_a_new_task(mailbox, plain, control, email):
    control._call("POST", f"/mailboxes/{email}/quirks", json={"todo_completion_creates_next_task": True})
    task = _recurring_task(plain)
    side = mailbox.side(SyncObject.TASKS)
    first = side.changes(None)

    result = _complete(side, task["id"])
    assert result.version  # answered as written: its version is that of the completion
    later = mailbox.side(SyncObject.TASKS).changes(first.watermark)
    shape = _shape(later)
    assert shape.pop(task["id"]) == ("Completed", MONDAY, SF_ID)
    assert list(shape.values()) == [("Not Started", MONDAY + dt.timedelta(weeks=1), SF_ID)]  # the new task
    assert later.records[task["id"]].version == result.version  # the completion is not read back as a change
