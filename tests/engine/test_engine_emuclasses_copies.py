"""Copies of synced contacts in the Outlook folder are not created again in Salesforce (issue 17, item 11).

A user who copies a contact into the sync folder (from another folder, or a second card of one already there) gets
no second Salesforce contact: the copy is matched to the synced one by its stamp or its keys and noted on the run.
Tasks are not contacts: a copy of a task (Exchange makes one when a recurring task's occurrence is completed) is a
new activity and is created.
"""

from __future__ import annotations

from engine_harness import BOTH, SF, World

from sync.engine.unlinked import COPY_OF_SYNCED

ADA = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}


def test_an_unstamped_copy_of_a_synced_contact_is_not_created_again():
    world = World("contacts", BOTH)
    sf_id, _ = world.synced_pair(SF, **ADA)
    copy = world.ol.add(ADA)  # the user's own card, copied in from another folder
    sf_w, _ = world.writes_during(world.sync)
    assert not sf_w["create"] and list(world.sf.items) == [sf_id]
    assert [(i.code, i.record_id) for i in world.last.issues] == [(COPY_OF_SYNCED, copy)]
    assert world.last.ok  # a note, not a failure
    sf_w, _ = world.writes_during(world.sync)
    assert not sf_w["create"]


def test_a_stamped_copy_of_a_synced_contact_is_not_created_again():
    world = World("contacts", BOTH)
    sf_id, _ = world.synced_pair(SF, **ADA)
    world.ol.add({**ADA, "email": "ada@home.example"}, salesforce_id=sf_id)  # a copy keeps the stamp
    sf_w, _ = world.writes_during(world.sync)
    assert not sf_w["create"] and list(world.sf.items) == [sf_id]
    assert [i.code for i in world.last.issues] == [COPY_OF_SYNCED]


def test_a_copied_task_is_a_new_task():
    world = World("tasks", BOTH)
    sf_id, _ = world.synced_pair(SF, subject="Weekly report", due_date="2026-03-02")
    world.ol.add({"subject": "Weekly report", "due_date": "2026-03-02", "status": "Completed"}, salesforce_id=sf_id)
    sf_w, _ = world.writes_during(world.sync)
    assert sf_w["create"] == 1
