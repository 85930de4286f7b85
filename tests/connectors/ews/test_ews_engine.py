"""The engine's run_sync with an in-memory Salesforce side and the real EWS connector against the sandbox."""

import datetime as dt

from exchangelib import Task

from sync.connectors.ews import SALESFORCE_ID_FIELD
from sync.engine import ConflictBehavior, DataSetting, Direction, Side, SyncObject, reset_sync, run_sync
from sync.engine.memory import MemoryLinkStore, MemorySide, MemoryWatermarks


def test_contacts_salesforce_to_outlook_create_update_overwrite_and_reset(mailbox, plain, control, email):
    sf = MemorySide(Side.SALESFORCE, SyncObject.CONTACTS)
    ids = [sf.add({"first_name": f"N{i}", "last_name": f"Person{i}", "email": f"p{i}@acme.test", "city": "Nice"},
                  record_id=f"003{i:015d}") for i in range(3)]
    links, marks = MemoryLinkStore(), MemoryWatermarks()
    setting = DataSetting(Direction.SALESFORCE_TO_OUTLOOK)

    def sync(**kwargs):
        return run_sync("contacts", setting, sf, mailbox.side(SyncObject.CONTACTS), links, marks, **kwargs)

    first = sync(full=True)
    assert first.ok and first.writes(Side.OUTLOOK) == 3
    folder = plain.contacts // "Salesforce_Sync"
    items = {getattr(c, SALESFORCE_ID_FIELD): c for c in folder.all()}
    assert set(items) == set(ids) and items[ids[0]].email_addresses[0].email == "p0@acme.test"

    # our own creates come back once (SyncFolderItems + GetItem) and are recognised; then nothing changed is
    # one EWS call
    echo = sync()
    assert echo.ok and echo.writes() == 0
    control.reset_stats()
    quiet = sync()
    assert quiet.ok and quiet.writes() == 0 and control.calls(email) == 1

    # Salesforce edits overwrite Outlook, Outlook edits are overwritten by the next Salesforce change only
    sf.edit(ids[1], last_name="Renamed")
    mine = folder.get(id=items[ids[2]].id)
    mine.job_title = "Edited in Outlook"
    mine.save(update_fields=["job_title"])
    second = sync()
    assert second.ok and second.writes(Side.OUTLOOK) >= 1
    assert folder.get(id=items[ids[1]].id).surname == "Renamed"
    assert not sf.items[ids[2]].fields.get("title")  # never sent to Salesforce

    # a Salesforce deletion deletes the Outlook copy
    sf.remove(ids[0])
    assert sync().ok
    assert {getattr(c, SALESFORCE_ID_FIELD) for c in folder.all()} == {ids[1], ids[2]}

    # reset: relinks through the stamped ids, creates nothing
    reset_sync(links, marks)
    again = sync(full=True)
    assert again.ok and again.applied[("outlook", "create")] == 0
    assert len(list(folder.all())) == 2


def test_tasks_both_ways_and_stamping_after_a_salesforce_create(mailbox, plain):
    sf = MemorySide(Side.SALESFORCE, SyncObject.TASKS)
    sf.add({"subject": "From SF", "status": "Not Started", "priority": "High", "due_date": dt.date(2026, 5, 1)},
           record_id="00T000000000000001")
    outlook_task = Task(account=plain, folder=plain.tasks, subject="From Outlook", status="InProgress")
    outlook_task.save()
    links, marks = MemoryLinkStore(), MemoryWatermarks()
    setting = DataSetting(Direction.BOTH, ConflictBehavior.SALESFORCE_WINS)

    def sync(**kwargs):
        return run_sync("tasks", setting, sf, mailbox.side(SyncObject.TASKS), links, marks, **kwargs)

    outcome = sync(full=True)
    assert outcome.ok, outcome.issues
    assert outcome.applied[("outlook", "create")] == 1 and outcome.applied[("salesforce", "create")] == 1
    assert outcome.applied[("outlook", "stamp")] == 1
    stamped = plain.tasks.get(id=outlook_task.id)
    sf_copy = next(i for i, item in sf.items.items() if item.fields.get("subject") == "From Outlook")
    assert getattr(stamped, SALESFORCE_ID_FIELD) == sf_copy
    assert sf.items[sf_copy].fields["status"] == "In Progress"
    created = next(t for t in plain.tasks.all() if t.subject == "From SF")
    assert created.importance == "High" and getattr(created, SALESFORCE_ID_FIELD) == "00T000000000000001"

    # our own writes (and the stamp) come back in the next incremental read and are recognised: no writes
    assert sync().writes() == 0
