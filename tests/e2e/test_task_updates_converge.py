"""Salesforce edits of a task the sync created in Outlook keep reaching Outlook (issue 20, chaos run).

The chaos run found Graph To Do tasks that refused every later update from Salesforce with 412
(ErrorIrresolvableConflict): the sync stamped the task it had just created, which changed its version, and kept
writing with the version it had before the stamp. Both Exchange protocols, both directions of the edit.
"""

import pytest

from tests.e2e.test_sync_user import last_run, only, sync

pytestmark = pytest.mark.e2e


def arranged(world):
    person = world.person()
    world.configure(person, tasks={"direction": "both", "conflict_behavior": "salesforce_wins"})
    task = person.salesforce.Task.create({"Subject": "Call Ada", "Status": "Not Started",
                                          "OwnerId": person.sync_user.salesforce_id})["id"]
    assert sync(person) == 0
    assert only(person.outlook.tasks())["subject"] == "Call Ada"
    return person, task


def test_salesforce_edits_of_a_created_task_reach_outlook_every_time(either_world):
    person, task = arranged(either_world)
    for n in range(3):
        person.salesforce.Task.update(task, {"Subject": f"Call Ada, take {n}"})
        assert sync(person) == 0, last_run(person, "tasks").error_message
        assert only(person.outlook.tasks())["subject"] == f"Call Ada, take {n}"
        run = last_run(person, "tasks")
        assert run.state == "succeeded" and not run.record_errors.exists()
    if either_world.protocol == "graph":  # one stamp, not one more per update
        outlook = person.outlook
        item = only(outlook.tasks())["id"]
        links = outlook._all(f"todo/lists/{outlook._list()}/tasks/{item}/linkedResources")
        assert [link.get("externalId") for link in links] == [task]


def test_outlook_and_salesforce_edits_of_a_created_task_alternate(either_world):
    person, task = arranged(either_world)
    item = only(person.outlook.tasks())["id"]
    person.outlook.update_task(item, subject="Renamed in Outlook")
    assert sync(person) == 0
    assert person.salesforce.Task.get(task)["Subject"] == "Renamed in Outlook"
    person.salesforce.Task.update(task, {"Subject": "Renamed in Salesforce"})
    assert sync(person) == 0, last_run(person, "tasks").error_message
    assert only(person.outlook.tasks())["subject"] == "Renamed in Salesforce"
    assert not last_run(person, "tasks").record_errors.exists()
