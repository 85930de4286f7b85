"""SyncFolderItems through exchangelib's sync_items, across rounds; persistence across a restart."""

import datetime

import pytest
from exchangelib import CalendarItem, Contact, EWSDateTime, EWSTimeZone
from exchangelib.errors import ErrorInvalidSyncStateData
from exchangelib.items import SEND_TO_NONE
from exchangelib.properties import ItemId

from .conftest import make_account

UTC = EWSTimeZone("UTC")


def changes(folder, state=None, max_changes=100, ignore=None, only=("display_name",)):
    folder.item_sync_state = state
    out = {"create": [], "update": [], "delete": [], "read_flag_change": []}
    for kind, item in folder.sync_items(only_fields=list(only) if only else None,
                                        max_changes_returned=max_changes, ignore=ignore):
        out[kind].append(item)
    return out, folder.item_sync_state


def test_sync_rounds_report_creates_updates_deletes(account):
    folder = account.contacts
    first, state = changes(folder)
    assert first["create"] == [] and state
    a = Contact(folder=folder, display_name="Alpha")
    a.save()
    b = Contact(folder=folder, display_name="Beta")
    b.save()
    second, state2 = changes(folder, state)
    assert sorted(c.display_name for c in second["create"]) == ["Alpha", "Beta"]
    assert second["update"] == second["delete"] == []
    # Nothing happened: nothing reported, state still valid.
    quiet, state3 = changes(folder, state2)
    assert quiet == {"create": [], "update": [], "delete": [], "read_flag_change": []}
    a.display_name = "Alpha 2"
    a.save(update_fields=["display_name"])
    b_id = b.id
    b.delete()
    c = Contact(folder=folder, display_name="Gamma")
    c.save()
    third, state4 = changes(folder, state3)
    assert [u.display_name for u in third["update"]] == ["Alpha 2"]
    assert [d.id for d in third["delete"]] == [b_id]
    assert [x.display_name for x in third["create"]] == ["Gamma"]
    # Created and deleted between two syncs: never reported.
    d = Contact(folder=folder, display_name="Ephemeral")
    d.save()
    d.delete()
    fourth, _ = changes(folder, state4)
    assert fourth == {"create": [], "update": [], "delete": [], "read_flag_change": []}
    # An old state replays what happened since.
    replay, _ = changes(folder, state2)
    assert {x.display_name for x in replay["create"]} == {"Gamma"}
    assert {x.display_name for x in replay["update"]} == {"Alpha 2"} and len(replay["delete"]) == 1


def test_sync_pages_with_max_changes(account):
    folder = account.contacts
    account.bulk_create(folder=folder, items=[Contact(display_name=f"C{i:03d}") for i in range(25)])
    _, state = changes(folder)  # drains everything in pages of 100
    account.bulk_create(folder=folder, items=[Contact(display_name=f"D{i:03d}") for i in range(12)])
    seen = []
    folder.item_sync_state = state
    for kind, item in folder.sync_items(only_fields=["display_name"], max_changes_returned=5):
        assert kind == "create"
        seen.append(item.display_name)
    assert seen == [f"D{i:03d}" for i in range(12)]


def test_sync_ignore_and_bad_state(account):
    folder = account.contacts
    _, state = changes(folder)
    keep = Contact(folder=folder, display_name="Keep")
    keep.save()
    skip = Contact(folder=folder, display_name="Skip")
    skip.save()
    got, _ = changes(folder, state, ignore=[ItemId(id=skip.id)])
    assert [x.display_name for x in got["create"]] == ["Keep"]
    with pytest.raises(ErrorInvalidSyncStateData):
        changes(folder, "bm90IGEgc3RhdGU=")
    # A state from another folder is refused as well.
    _, calendar_state = changes(account.calendar, only=("subject",))
    with pytest.raises(ErrorInvalidSyncStateData):
        changes(folder, calendar_state)


def test_sync_calendar_reports_master_changes(account):
    folder = account.calendar
    _, state = changes(folder, only=("subject",))
    start = EWSDateTime(2025, 9, 1, 9, tzinfo=UTC)
    item = CalendarItem(folder=folder, subject="Weekly", start=start, end=start + datetime.timedelta(hours=1))
    item.save(send_meeting_invitations=SEND_TO_NONE)
    created, state = changes(folder, state, only=("subject", "start"))
    assert [(x.subject, x.start) for x in created["create"]] == [("Weekly", start)]
    item.subject = "Weekly (renamed)"
    item.save(update_fields=["subject"], send_meeting_invitations=SEND_TO_NONE)
    updated, _ = changes(folder, state, only=("subject",))
    assert [x.subject for x in updated["update"]] == ["Weekly (renamed)"]


def test_state_survives_restart(tmp_path, spawn):
    first = spawn(tmp_path, seed="empty")
    try:
        mailbox = first.hub.exchange.create_mailbox(email="persist@sandbox.test", display_name="Persist Me")
        acc = make_account(first, mailbox)
        Contact(folder=acc.contacts, display_name="Before restart").save()
        folder = acc.contacts
        created, state = changes(folder)
        assert [c.display_name for c in created["create"]] == ["Before restart"]
        sub = type(folder)(parent=folder, name="Salesforce_Sync")
        sub.save()
        kept_id = created["create"][0].id
    finally:
        first.stop()
    second = spawn(tmp_path, seed="empty")
    try:
        acc2 = make_account(second, "persist@sandbox.test")
        assert acc2.contacts.get(id=kept_id).display_name == "Before restart"
        assert (acc2.contacts // "Salesforce_Sync").id == sub.id
        Contact(folder=acc2.contacts, display_name="After restart").save()
        after, _ = changes(acc2.contacts, state)
        assert [c.display_name for c in after["create"]] == ["After restart"]
    finally:
        second.stop()


def test_trash_and_soft_delete_show_as_deletes(account):
    folder = account.contacts
    a = Contact(folder=folder, display_name="To trash")
    a.save()
    b = Contact(folder=folder, display_name="To soft delete")
    b.save()
    _, state = changes(folder)
    a_id, b_id = a.id, b.id
    a.move_to_trash()
    b.soft_delete()
    got, _ = changes(folder, state)
    assert sorted(d.id for d in got["delete"]) == sorted([a_id, b_id])
    assert [x.display_name for x in account.trash.all()] == ["To trash"]


def test_sync_on_a_deleted_folder_fails(sandbox, account, control):
    from exchangelib.errors import ErrorFolderNotFound
    from exchangelib.folders import Contacts

    sub = Contacts(parent=account.contacts, name="Salesforce_Sync")
    sub.save()
    Contact(folder=sub, display_name="Inside").save()
    _, state = changes(sub)
    assert control.delete(f"/mailboxes/{account.primary_smtp_address}/folders/{sub.id}").status_code == 200
    with pytest.raises(ErrorFolderNotFound):
        changes(sub, state)


def test_concurrent_writers(sandbox, mailbox):
    import threading

    errors = []

    def writer(n):
        try:
            acc = make_account(sandbox, mailbox)
            created = acc.bulk_create(folder=acc.contacts,
                                      items=[Contact(display_name=f"T{n}-{i}") for i in range(20)])
            for item in acc.fetch(ids=created):
                item.job_title = f"writer {n}"
                item.save(update_fields=["job_title"])
        except Exception as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    acc = make_account(sandbox, mailbox)
    assert acc.contacts.all().count() == 80
    got, _ = changes(acc.contacts, only=("display_name", "job_title"))
    assert len(got["create"]) == 80 and all(c.job_title for c in got["create"])


def test_read_flag_changes_on_messages(account):
    from exchangelib import Message

    folder = account.inbox
    msg = Message(folder=folder, subject="Hello", body="Hi", is_read=False)
    msg.save()
    _, state = changes(folder, only=("subject",))
    msg.is_read = True
    msg.save(update_fields=["is_read"])
    got, state2 = changes(folder, state, only=("subject",))
    assert got["update"] == [] and got["create"] == []
    ((item_id, is_read),) = got["read_flag_change"]
    assert item_id.id == msg.id and is_read is True
    msg.subject = "Hello again"
    msg.save(update_fields=["subject"])
    got, _ = changes(folder, state2, only=("subject",))
    assert [m.subject for m in got["update"]] == ["Hello again"] and got["read_flag_change"] == []


def test_deleting_an_occurrence_syncs_as_an_update_of_the_series(account):
    from exchangelib import EWSDate
    from exchangelib.recurrence import DailyPattern, Recurrence

    folder = account.calendar
    start = EWSDateTime(2026, 3, 2, 9, tzinfo=UTC)
    master = CalendarItem(folder=folder, subject="Series", start=start, end=start + datetime.timedelta(hours=1),
                          recurrence=Recurrence(pattern=DailyPattern(interval=1), start=EWSDate(2026, 3, 2),
                                                number=5))
    master.save(send_meeting_invitations=SEND_TO_NONE)
    _, state = changes(folder, only=("subject",))
    second = list(folder.view(start=EWSDateTime(2026, 3, 3, tzinfo=UTC), end=EWSDateTime(2026, 3, 4, tzinfo=UTC)))
    second[0].delete(send_meeting_cancellations=SEND_TO_NONE)
    after, _ = changes(folder, state, only=("subject",))
    assert [x.subject for x in after["update"]] == ["Series"]
    assert not after.get("read_flag_change")
