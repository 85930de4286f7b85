"""Recurring To Do tasks (issue 17, item 6, on Graph), through plain HTTP as any Graph client sends it.

Completing the open occurrence of a recurring task splits it off as a new, completed task and moves the recurring
task (same id) on to its next due date, open again; the last occurrence completes the task itself. The delta query
reports both changes. (Exchange's rule for recurring tasks, which To Do follows: see sandbox/graph/todo.py.)
"""

from datetime import date, timedelta

from tests.sandbox.graph.conftest import error_code

MONDAY = date(2027, 3, 1)


def _tasks_path(mb) -> str:
    lists = mb.ok("get", "todo/lists")["value"]
    return f"todo/lists/{next(tl for tl in lists if tl['wellknownListName'] == 'defaultList')['id']}/tasks"


def _weekly(**range_) -> dict:
    return {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
            "range": {"type": "noEnd", "startDate": MONDAY.isoformat(), **range_}}


def _due(day: date) -> dict:
    return {"dateTime": f"{day.isoformat()}T00:00:00", "timeZone": "UTC"}


def _delta_round(mb, url, **params) -> tuple[list[dict], str]:
    page = mb.ok("get", url, params=params or None)
    rows = list(page["value"])
    while "@odata.nextLink" in page:
        page = mb.ok("get", page["@odata.nextLink"])
        rows += page["value"]
    return rows, page["@odata.deltaLink"]


def test_completing_a_recurring_task_splits_off_the_completed_occurrence(mb):
    base = _tasks_path(mb)
    created = mb.ok("post", base, 201, json={
        "title": "Weekly report", "dueDateTime": _due(MONDAY), "recurrence": _weekly(),
        "reminderDateTime": {"dateTime": f"{MONDAY.isoformat()}T09:00:00", "timeZone": "UTC"}, "isReminderOn": True,
        "linkedResources": [{"applicationName": "Salesforce Sync", "displayName": "Task", "externalId": "00T1"}]})
    assert created["recurrence"]["pattern"]["type"] == "weekly"
    assert created["recurrence"]["range"]["recurrenceTimeZone"]  # Graph answers the full patternedRecurrence
    _, link = _delta_round(mb, f"{base}/delta", **{"$expand": "linkedResources"})

    answer = mb.ok("patch", f"{base}/{created['id']}", json={"status": "completed"})
    nxt = MONDAY + timedelta(weeks=1)
    assert answer["id"] == created["id"] and answer["status"] == "notStarted"
    assert answer["dueDateTime"]["dateTime"].startswith(nxt.isoformat()) and "completedDateTime" not in answer
    assert answer["reminderDateTime"]["dateTime"].startswith(f"{nxt.isoformat()}T09:00:00")
    assert answer["recurrence"] == created["recurrence"]

    tasks = {t["id"]: t for t in mb.ok("get", base, params={"$expand": "linkedResources"})["value"]}
    assert len(tasks) == 2
    (done,) = [t for t in tasks.values() if t["id"] != created["id"]]
    assert done["status"] == "completed" and "recurrence" not in done and done["completedDateTime"]
    assert done["dueDateTime"]["dateTime"].startswith(MONDAY.isoformat()) and done["title"] == "Weekly report"
    assert [r["externalId"] for r in done["linkedResources"]] == ["00T1"]  # the completed copy keeps what it held

    changed, _ = _delta_round(mb, link)
    assert {t["id"] for t in changed} == set(tasks)  # the next occurrence changed, the completed one is new
    assert {t["id"]: t["status"] for t in changed} == {created["id"]: "notStarted", done["id"]: "completed"}


def test_the_last_occurrence_completes_the_task_itself(mb):
    base = _tasks_path(mb)
    created = mb.ok("post", base, 201, json={
        "title": "Twice", "dueDateTime": _due(MONDAY),
        "recurrence": {**_weekly(), "range": {"type": "numbered", "startDate": MONDAY.isoformat(),
                                               "numberOfOccurrences": 2}}})
    first = mb.ok("patch", f"{base}/{created['id']}", json={"status": "completed"})
    assert first["status"] == "notStarted"
    second = mb.ok("patch", f"{base}/{created['id']}", json={"status": "completed"})
    assert second["status"] == "completed" and second["id"] == created["id"]
    assert second["dueDateTime"]["dateTime"].startswith((MONDAY + timedelta(weeks=1)).isoformat())
    assert sorted(t["status"] for t in mb.ok("get", base)["value"]) == ["completed", "completed"]


def test_a_task_without_recurrence_is_simply_completed(mb):
    base = _tasks_path(mb)
    created = mb.ok("post", base, 201, json={"title": "Once", "dueDateTime": _due(MONDAY)})
    done = mb.ok("patch", f"{base}/{created['id']}", json={"status": "completed"})
    assert done["status"] == "completed" and len(mb.ok("get", base)["value"]) == 1


def test_recurrence_is_checked_and_can_be_removed(mb):
    base = _tasks_path(mb)
    bad = mb.post(base, json={"title": "x", "recurrence": {"pattern": {"type": "fortnightly"},
                                                           "range": {"type": "noEnd"}}})
    assert bad.status_code == 400 and error_code(bad) == "ErrorInvalidRecurrence"
    created = mb.ok("post", base, 201, json={"title": "Weekly", "dueDateTime": _due(MONDAY), "recurrence": _weekly()})
    plain = mb.ok("patch", f"{base}/{created['id']}", json={"recurrence": None})
    assert "recurrence" not in plain
    done = mb.ok("patch", f"{base}/{created['id']}", json={"status": "completed"})
    assert done["status"] == "completed" and len(mb.ok("get", base)["value"]) == 1
