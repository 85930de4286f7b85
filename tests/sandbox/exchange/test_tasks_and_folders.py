"""Tasks and folders through unchanged exchangelib."""

import datetime
from decimal import Decimal

import pytest
from exchangelib import Contact, EWSDate, EWSDateTime, EWSTimeZone, ExtendedProperty, Task
from exchangelib.errors import ErrorDeleteDistinguishedFolder, ErrorFolderExists, ErrorFolderNotFound
from exchangelib.folders import Calendar, Contacts, Folder, Tasks

UTC = EWSTimeZone("UTC")


class SalesforceTaskId(ExtendedProperty):
    property_set_id = "c11ff724-aa03-4555-9952-8fa248a11c3e"
    property_name = "SalesforceId"
    property_type = "String"


@pytest.fixture(autouse=True, scope="module")
def _register():
    Task.register("salesforce_id", SalesforceTaskId)
    yield
    Task.deregister("salesforce_id")


def test_task_fields_round_trip(account):
    task = Task(folder=account.tasks, subject="Call Acme back", body="Ask about renewal", importance="High",
                due_date=EWSDate(2025, 2, 14), start_date=EWSDate(2025, 2, 10), status="InProgress",
                percent_complete=Decimal(40), categories=["Sales"], billing_information="ACME-42", mileage="12",
                companies=["Acme"], sensitivity="Confidential", reminder_is_set=True,
                reminder_due_by=EWSDateTime(2025, 2, 13, 9, tzinfo=UTC), salesforce_id="00T000000000001")
    task.save()
    got = account.tasks.get(id=task.id)
    assert (got.subject, got.body, got.importance) == ("Call Acme back", "Ask about renewal", "High")
    assert got.due_date == EWSDate(2025, 2, 14) and got.start_date == EWSDate(2025, 2, 10)
    assert (got.status, got.percent_complete) == ("InProgress", 40)
    assert got.categories == ["Sales"] and got.billing_information == "ACME-42" and got.companies == ["Acme"]
    assert got.sensitivity == "Confidential" and got.reminder_is_set is True
    assert got.salesforce_id == "00T000000000001"
    assert got.is_complete is False and got.complete_date is None
    assert got.status_description == "In Progress" and got.owner


def test_task_completion_rules(account):
    task = Task(folder=account.tasks, subject="Send contract")
    task.save()
    got = account.tasks.get(id=task.id)
    assert (got.status, got.percent_complete) == ("NotStarted", 0)
    got.status = "Completed"
    got.save(update_fields=["status"])
    done = account.tasks.get(id=task.id)
    assert done.percent_complete == 100 and done.is_complete is True and done.complete_date is not None
    assert account.tasks.filter(subject="Send contract").count() == 1
    done.delete()
    assert account.tasks.all().count() == 0


def test_distinguished_folders_have_one_id(account):
    by_name = account.contacts
    assert isinstance(by_name, Contacts) and by_name.name == "Contacts"
    first_id = by_name.id
    by_name.refresh()  # GetFolder by FolderId this time
    assert by_name.id == first_id and by_name.name == "Contacts"
    assert isinstance(account.calendar, Calendar) and isinstance(account.tasks, Tasks)
    assert account.inbox.id != account.trash.id
    assert account.contacts.parent.id == account.msg_folder_root.id
    assert account.root.id != account.msg_folder_root.id


def test_sync_folder_lookup_and_creation(account):
    with pytest.raises(ErrorFolderNotFound):
        account.contacts // "Salesforce_Sync"
    folder = Contacts(parent=account.contacts, name="Salesforce_Sync")
    folder.save()
    found = account.contacts // "Salesforce_Sync"
    assert found.id == folder.id and isinstance(found, Contacts)
    assert (account.contacts / "Salesforce_Sync").id == folder.id
    with pytest.raises(ErrorFolderExists):
        Contacts(parent=account.contacts, name="salesforce_sync").save()
    Contact(folder=found, display_name="In subfolder").save()
    assert found.all().count() == 1 and account.contacts.all().count() == 0
    # Deep traversal from the root sees it, shallow from msgfolderroot does not.
    deep_names = {f.name for f in account.root.walk()}
    assert "Salesforce_Sync" in deep_names and "Contacts" in deep_names
    shallow = {f.name for f in account.msg_folder_root.children}
    assert "Salesforce_Sync" not in shallow and "Contacts" in shallow
    folder.name = "Salesforce Sync (renamed)"
    folder.save(update_fields=["name"])
    account.contacts.refresh()
    assert (account.contacts // "Salesforce Sync (renamed)").id == folder.id
    folder.delete()
    with pytest.raises(ErrorFolderNotFound):
        account.contacts // "Salesforce Sync (renamed)"
    with pytest.raises(ErrorDeleteDistinguishedFolder):
        account.contacts.delete()


def test_find_folder_paging(account):
    for i in range(7):
        Folder(parent=account.inbox, name=f"Box {i}").save()
    names = [f.name for f in account.inbox.children]
    assert sorted(names) == [f"Box {i}" for i in range(7)]
    account.inbox.refresh()
    assert account.inbox.child_folder_count == 7


def test_calendar_view_ignores_contacts_and_tasks(account):
    Task(folder=account.tasks, subject="Not a meeting", due_date=EWSDate(2025, 1, 2)).save()
    assert list(account.calendar.view(start=EWSDateTime(2025, 1, 1, tzinfo=UTC),
                                      end=EWSDateTime(2025, 1, 3, tzinfo=UTC))) == []
    assert datetime.date(2025, 1, 2) == account.tasks.all()[0].due_date


def test_folder_permissions_like_a_new_mailbox(account):
    calendar = account.calendar
    calendar.refresh()
    levels = {p.user_id.distinguished_user: p.calendar_permission_level
              for p in calendar.permission_set.calendar_permissions}
    assert levels == {"Default": "FreeBusyTimeOnly", "Anonymous": "None"}
    contacts = account.contacts
    contacts.refresh()
    assert {p.user_id.distinguished_user: p.permission_level for p in contacts.permission_set.permissions} == \
        {"Default": "None", "Anonymous": "None"}


def test_items_need_folders_of_their_class(account):
    from exchangelib.errors import ErrorCannotCreateContactInNonContactFolder, ErrorCannotCreateTaskInNonTaskFolder

    with pytest.raises(ErrorCannotCreateContactInNonContactFolder):
        Contact(folder=account.tasks, display_name="Lost").save()
    with pytest.raises(ErrorCannotCreateTaskInNonTaskFolder):
        Task(folder=account.contacts, subject="Lost").save()
    assert account.contacts.all().count() == 0 and account.tasks.all().count() == 0


def test_sync_hierarchy_reports_folder_changes(account, control):
    root = account.msg_folder_root
    first = list(root.sync_hierarchy())
    names = {f.name for kind, f in first if kind == "create"}
    assert {"Contacts", "Calendar", "Tasks", "Inbox", "Deleted Items"} <= names
    state = root.folder_sync_state
    sub = Contacts(parent=account.contacts, name="Salesforce_Sync")
    sub.save()
    other = Folder(parent=account.inbox, name="Old")
    other.save()
    root.folder_sync_state = state
    second = list(root.sync_hierarchy())
    assert {(kind, f.name) for kind, f in second if kind == "create"} == {("create", "Salesforce_Sync"),
                                                                        ("create", "Old")}
    state = root.folder_sync_state
    sub.name = "Salesforce Sync"
    sub.save(update_fields=["name"])
    assert control.delete(f"/mailboxes/{account.primary_smtp_address}/folders/{other.id}").status_code == 200
    root.folder_sync_state = state
    third = list(root.sync_hierarchy())
    assert ("update", "Salesforce Sync") in {(kind, getattr(f, "name", None)) for kind, f in third}
    assert [f.id for kind, f in third if kind == "delete"] == [other.id]
    # A hierarchy state is not an item state, even for the same folder.
    from exchangelib.errors import ErrorInvalidSyncStateData

    root.item_sync_state = root.folder_sync_state
    with pytest.raises(ErrorInvalidSyncStateData):
        list(root.sync_items(only_fields=["subject"]))
