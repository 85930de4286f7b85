"""The engine's run_sync with an in-memory Salesforce side and the real Graph connector against the emulator."""

import datetime as dt

from sync.connectors.graph import LINKED_APPLICATION, SALESFORCE_ID_PROPERTY, GraphMailbox
from sync.engine import ConflictBehavior, DataSetting, Direction, Side, SyncObject, reset_sync, run_sync
from sync.engine.memory import MemoryLinkStore, MemorySide, MemoryWatermarks

STAMP = f"singleValueExtendedProperties($filter=id eq '{SALESFORCE_ID_PROPERTY}')"


def stamps(plain) -> dict:
    items = plain.get(f"/contactFolders/{plain.folder_id()}/contacts", **{"$expand": STAMP, "$top": "1000"})["value"]
    return {next((p["value"] for p in i.get("singleValueExtendedProperties") or []), None): i for i in items}


def test_contacts_salesforce_to_outlook_create_update_overwrite_and_reset(mailbox, plain, control, email):
    sf = MemorySide(Side.SALESFORCE, SyncObject.CONTACTS)
    ids = [sf.add({"first_name": f"N{i}", "last_name": f"Person{i}", "email": f"p{i}@acme.test", "city": "Nice"},
                  record_id=f"003{i:015d}") for i in range(3)]
    links, marks = MemoryLinkStore(), MemoryWatermarks()
    setting = DataSetting(Direction.SALESFORCE_TO_OUTLOOK)

    def sync(**kwargs):
        return run_sync("contacts", setting, sf, GraphMailbox(mailbox.settings, email).side(SyncObject.CONTACTS),
                        links, marks, **kwargs)

    first = sync(full=True)
    assert first.ok and first.writes(Side.OUTLOOK) == 3
    items = stamps(plain)
    assert set(items) == set(ids) and items[ids[0]]["emailAddresses"][0]["address"] == "p0@acme.test"

    # our own creates come back once and are recognised; then nothing changed is one Graph request
    echo = sync()
    assert echo.ok and echo.writes() == 0
    control.reset_stats()
    quiet = sync()
    assert quiet.ok and quiet.writes() == 0 and control.calls(email) == 1

    # Salesforce edits overwrite Outlook; Outlook edits are never sent to Salesforce
    sf.edit(ids[1], last_name="Renamed")
    plain.patch(f"/contacts/{items[ids[2]]['id']}", {"jobTitle": "Edited in Outlook"})
    second = sync()
    assert second.ok and second.writes(Side.OUTLOOK) >= 1
    assert plain.contact(items[ids[1]]["id"])["surname"] == "Renamed"
    assert not sf.items[ids[2]].fields.get("title")

    # a Salesforce deletion deletes the Outlook copy
    sf.remove(ids[0])
    assert sync().ok
    assert set(stamps(plain)) == {ids[1], ids[2]}

    # reset: relinks through the stamped ids, creates nothing
    reset_sync(links, marks)
    again = sync(full=True)
    assert again.ok and again.applied[("outlook", "create")] == 0
    assert len(plain.contacts()) == 2

    # a mailbox moved from on-premises: the EWS watermark means a full read that matches, never a re-create
    marks.set(Side.OUTLOOK, '{"v":1,"state":"H4sIAAAAAAAEAGNgYGBkYGBg","folder":"AAMkAGI2"}')
    moved = sync()
    assert moved.ok and moved.writes() == 0 and len(plain.contacts()) == 2
    assert '"protocol":"graph"' in marks.get(Side.OUTLOOK)


def test_tasks_both_ways_and_stamping_after_a_salesforce_create(mailbox, plain):
    sf = MemorySide(Side.SALESFORCE, SyncObject.TASKS)
    sf.add({"subject": "From SF", "status": "Not Started", "priority": "High", "due_date": dt.date(2026, 5, 1)},
           record_id="00T000000000000001")
    outlook_task = plain.add_task(title="From Outlook", status="inProgress")
    links, marks = MemoryLinkStore(), MemoryWatermarks()
    setting = DataSetting(Direction.BOTH, ConflictBehavior.SALESFORCE_WINS)

    def sync(**kwargs):
        return run_sync("tasks", setting, sf, mailbox.side(SyncObject.TASKS), links, marks, **kwargs)

    outcome = sync(full=True)
    assert outcome.ok, outcome.issues
    assert outcome.applied[("outlook", "create")] == 1 and outcome.applied[("salesforce", "create")] == 1
    assert outcome.applied[("outlook", "stamp")] == 1
    tasks = {t["title"]: t for t in plain.tasks()}
    sf_copy = next(i for i, item in sf.items.items() if item.fields.get("subject") == "From Outlook")
    assert [r["externalId"] for r in tasks["From Outlook"]["linkedResources"]
            if r["applicationName"] == LINKED_APPLICATION] == [sf_copy]
    assert tasks["From Outlook"]["id"] == outlook_task["id"]
    assert sf.items[sf_copy].fields["status"] == "In Progress"
    assert tasks["From SF"]["importance"] == "high"

    # the next runs see their own writes and do nothing
    assert sync().writes() == 0
    assert sync().writes() == 0

    # an edit in To Do goes to Salesforce
    plain.patch(f"/todo/lists/{plain.task_list()}/tasks/{outlook_task['id']}", {"status": "completed"})
    edited = sync()
    assert edited.ok and sf.items[sf_copy].fields["status"] == "Completed"


def test_events_both_ways_with_a_series_in_the_window(mailbox, plain):
    from sync.connectors.base import ObjectOptions

    options = ObjectOptions(window_start="2026-03-01T00:00:00+00:00", window_end="2026-03-14T23:59:59+00:00")
    plain.add_event(subject="Weekly", start={"dateTime": "2026-03-02T10:00:00", "timeZone": "UTC"},
                    end={"dateTime": "2026-03-02T10:30:00", "timeZone": "UTC"},
                    recurrence={"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
                                "range": {"type": "noEnd", "startDate": "2026-03-02"}})
    sf = MemorySide(Side.SALESFORCE, SyncObject.EVENTS)
    sf.add({"subject": "Lunch", "start": dt.datetime(2026, 3, 5, 12, 0, tzinfo=dt.UTC),
            "end": dt.datetime(2026, 3, 5, 13, 0, tzinfo=dt.UTC)}, record_id="00U000000000000001")
    links, marks = MemoryLinkStore(), MemoryWatermarks()
    setting = DataSetting(Direction.BOTH, ConflictBehavior.OUTLOOK_WINS)

    def sync(**kwargs):
        return run_sync("events", setting, sf, mailbox.side(SyncObject.EVENTS, options), links, marks, **kwargs)

    outcome = sync(full=True)
    assert outcome.ok, outcome.issues
    # two occurrences of the series inside the window go to Salesforce; the lunch comes to Outlook
    assert outcome.applied[("salesforce", "create")] == 2 and outcome.applied[("outlook", "create")] == 1
    assert sorted(r.fields["subject"] for r in sf.items.values()) == ["Lunch", "Weekly", "Weekly"]
    assert sync().writes() == 0
