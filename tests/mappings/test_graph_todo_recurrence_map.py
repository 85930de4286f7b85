"""Recurring To Do tasks through the Graph field map: the Salesforce task linked to a recurring To Do task stands for
its open occurrence (docs/syncing.md), as on EWS. So a task's `recurrence` never changes its canonical fields, and
what the sync writes to To Do never carries `recurrence`: a PATCH from Salesforce leaves the To Do pattern as it is
(Graph changes only the properties a PATCH names)."""

import datetime as dt

import pytest

from sync.engine import SyncObject
from sync.engine.canonical import schema_for
from sync.mappings import exchange as ews
from sync.mappings import graph as g

TASKS = schema_for(SyncObject.TASKS)
WEEKLY = {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday",
                      "index": "first", "month": 0, "dayOfMonth": 0},
          "range": {"type": "noEnd", "startDate": "2027-03-01", "endDate": "0001-01-01",
                    "recurrenceTimeZone": "UTC", "numberOfOccurrences": 0}}


def _todo(status: str, due: str, **extra) -> dict:
    return {"title": "Weekly report", "status": status, "importance": "normal", "isReminderOn": False,
            "dueDateTime": {"dateTime": f"{due}T00:00:00.0000000", "timeZone": "UTC"},
            "body": {"content": "", "contentType": "text"}, **extra}


@pytest.mark.parametrize("status", ["notStarted", "completed"])
def test_an_occurrence_maps_as_the_same_task_with_or_without_its_recurrence(status):
    plain = _todo(status, "2027-03-08")
    assert g.task_from_graph({**plain, "recurrence": WEEKLY}) == g.task_from_graph(plain)


@pytest.mark.parametrize(("graph_status", "due"), [("notStarted", "2027-03-08"), ("completed", "2027-03-01")])
def test_each_occurrence_round_trips_and_agrees_with_ews(graph_status, due):
    fields = TASKS.canonicalize(g.task_from_graph(_todo(graph_status, due, recurrence=WEEKLY)))
    assert fields["due_date"] == dt.date.fromisoformat(due)
    written = g.task_to_graph(fields)
    assert "recurrence" not in written  # a write from Salesforce keeps the To Do pattern
    assert written["status"] == graph_status and written["dueDateTime"]["dateTime"].startswith(due)
    assert TASKS.canonicalize(ews.task_from_ews(ews.task_to_ews(fields))) == fields
