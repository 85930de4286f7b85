"""Recurring To Do tasks when To Do creates the next occurrence as a NEW task (issue 19, on Graph), end to end
against the sandbox with the mailbox on the Graph emulator and its quirk `todo_completion_creates_next_task`.

Reports on To Do differ on which task keeps the id when a recurring task is completed (sandbox/graph/todo.py). With
this behaviour the completed task keeps its id and the next occurrence is a new task carrying the same recurrence
and a copy of the linked resource that names the Salesforce task. The sync must neither duplicate (the new task is
one new Salesforce task, never a second one beside the open occurrence) nor lose the completion (the linked
Salesforce task is completed), whichever side completed it. The default behaviour (the task itself moves on) is
tested in tests/e2e/test_emugraph_sync.py.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from sync.models import RecordError
from tests.e2e.test_sync_user import last_run, sf_rows, sync

pytestmark = pytest.mark.e2e

BOTH = {"direction": "both", "conflict_behavior": "salesforce_wins"}


def _sf_tasks(person) -> list[tuple[str, str, str]]:
    return sorted((r["Subject"], r["ActivityDate"], r["Status"])
                  for r in sf_rows(person, "SELECT Subject, ActivityDate, Status FROM Task"))


def _todo_tasks(person) -> list[tuple[str, str, str, bool]]:
    outlook = person.outlook
    return sorted((t["title"], t["dueDateTime"]["dateTime"][:10], t["status"], bool(t.get("recurrence")))
                  for t in outlook._all(f"todo/lists/{outlook._list()}/tasks"))


def test_recurring_todo_task_whose_next_occurrence_is_a_new_task_never_duplicates(graph_world):
    world = graph_world
    person = world.person()
    world.configure(person, tasks=BOTH)
    response = world.http().post(f"{world.sandbox.graph_url}/_sandbox/mailboxes/{person.username}/quirks",
                                 json={"todo_completion_creates_next_task": True}, timeout=30)
    assert response.status_code == 200, response.text
    first = timezone.now().date() + timedelta(days=1)
    d1, d2, d3 = (first + timedelta(weeks=n) for n in range(3))
    outlook = person.outlook
    tasks_path = f"todo/lists/{outlook._list()}/tasks"
    series = outlook._call("POST", tasks_path, {
        "title": "Weekly report", "dueDateTime": {"dateTime": f"{first.isoformat()}T00:00:00", "timeZone": "UTC"},
        "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [first.strftime("%A").lower()]},
                       "range": {"type": "noEnd", "startDate": first.isoformat()}}})
    assert sync(person) == 0
    assert _sf_tasks(person) == [("Weekly report", d1.isoformat(), "Not Started")]

    # Completed in To Do: the task stays completed, the next occurrence is a new task with the Salesforce id copied.
    answer = outlook._call("PATCH", f"{tasks_path}/{series['id']}", {"status": "completed"})
    assert answer["status"] == "completed" and "recurrence" not in answer  # the task written stays completed
    assert _todo_tasks(person) == [("Weekly report", d1.isoformat(), "completed", False),
                                   ("Weekly report", d2.isoformat(), "notStarted", True)]
    assert sync(person) == 0
    assert _sf_tasks(person) == [("Weekly report", d1.isoformat(), "Completed"),
                                 ("Weekly report", d2.isoformat(), "Not Started")]
    assert sync(person) == 0  # converged: nothing more written on either side
    assert len(_todo_tasks(person)) == 2 and len(_sf_tasks(person)) == 2

    # Renamed in Salesforce: the open occurrence in To Do is renamed and keeps its recurrence.
    (open_task,) = [r for r in sf_rows(person, "SELECT Id, Status FROM Task") if r["Status"] == "Not Started"]
    person.salesforce.Task.update(open_task["Id"], {"Subject": "Weekly sales report"})
    assert sync(person) == 0
    assert _todo_tasks(person) == [("Weekly report", d1.isoformat(), "completed", False),
                                   ("Weekly sales report", d2.isoformat(), "notStarted", True)]
    person.salesforce.Task.update(open_task["Id"], {"Subject": "Weekly report"})
    assert sync(person) == 0

    # Completed in Salesforce: the sync completes the open occurrence in To Do, which creates the next one.
    (open_task,) = [r for r in sf_rows(person, "SELECT Id, Status FROM Task") if r["Status"] == "Not Started"]
    person.salesforce.Task.update(open_task["Id"], {"Status": "Completed"})
    assert sync(person) == 0
    assert sync(person) == 0
    assert _todo_tasks(person) == [("Weekly report", d1.isoformat(), "completed", False),
                                   ("Weekly report", d2.isoformat(), "completed", False),
                                   ("Weekly report", d3.isoformat(), "notStarted", True)]
    assert _sf_tasks(person) == [("Weekly report", d1.isoformat(), "Completed"),
                                 ("Weekly report", d2.isoformat(), "Completed"),
                                 ("Weekly report", d3.isoformat(), "Not Started")]
    assert sync(person) == 0
    assert sync(person, "--reset") == 0  # a full read with matching pairs them all again
    assert len(_sf_tasks(person)) == 3 and len(_todo_tasks(person)) == 3
    assert last_run(person, "tasks").state == "succeeded"
    errors = RecordError.objects.filter(run__user=person.sync_user)
    assert not errors.exists(), list(errors.values_list("code", "message"))
