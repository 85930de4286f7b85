"""A deleted contacts folder (issue 15, item 3): only a first sync and a reset create it; any other run, full (after
a configuration change) or incremental, stops with `contacts_folder_missing` and the connection test says so.
On EWS and on Graph, against the sandbox, checked with the real clients."""

import pytest

from configurations.services import update_configuration
from sync.models import SyncRun
from tests.e2e.test_sync_user import last_run, sf_rows, sync
from users.models import SyncState, UserObjectState
from users.operations import test_connection as check_connections
from users.services import effective_configuration

pytestmark = pytest.mark.e2e


def delete_contacts_folder(person) -> None:
    """The user deletes the Salesforce_Sync folder in Outlook."""
    outlook = person.outlook
    if outlook.protocol == "ews":
        outlook._folder().delete()
    else:
        outlook._call("DELETE", f"contactFolders/{outlook._folder()}")


def folder_exists(person) -> bool:
    try:
        person.outlook._folder()
    except Exception:  # each client has its own way of saying "not there"
        return False
    return True


def contacts_state(person) -> UserObjectState:
    return UserObjectState.objects.get(user=person.sync_user, object="contacts")


@pytest.fixture
def synced_person(either_world):
    person = either_world.person()
    either_world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    for name in ("Ada", "Grace", "Hedy"):
        person.salesforce.Contact.create({"FirstName": name, "LastName": "Pioneer"})
    assert sync(person) == 0
    assert len(person.outlook.contacts()) == 3
    delete_contacts_folder(person)
    assert not folder_exists(person)
    return person


def assert_folder_missing(person) -> None:
    run = last_run(person, "contacts")
    state = contacts_state(person)
    assert run.state == SyncRun.State.FAILED and run.error_code == "contacts_folder_missing", run.error_message
    assert state.state == SyncState.NEEDS_ATTENTION
    assert "Salesforce_Sync" in state.last_error_message and "Reset the user" in state.last_error_message
    assert not folder_exists(person), "the folder was re-created"
    assert len(sf_rows(person, "SELECT Id FROM Contact")) == 3, "Salesforce records were touched"


def test_a_full_run_after_a_configuration_change_reports_the_missing_folder(synced_person):
    person = synced_person
    configuration = effective_configuration(person.sync_user).configuration
    update_configuration(configuration, {"data_sets": {"contacts": {"record_limit": 4000}}})
    assert sync(person) == 1
    assert last_run(person, "contacts").full  # the scope changed: a full read, which used to re-create the folder
    assert_folder_missing(person)


def test_an_incremental_run_reports_the_missing_folder_and_the_test_says_so(synced_person):
    person = synced_person
    assert sync(person) == 1
    assert not last_run(person, "contacts").full
    assert_folder_missing(person)
    assert sync(person) == 1  # and again: still missing, still not re-created
    assert_folder_missing(person)

    exchange = check_connections(person.sync_user)["exchange"]
    assert exchange["ok"] is False and "'Salesforce_Sync' is missing" in exchange["detail"]


def test_a_reset_creates_the_folder_again_and_relinks(synced_person):
    person = synced_person
    assert sync(person) == 1
    assert sync(person, "--reset") == 0
    assert folder_exists(person)
    assert sorted(c["given_name"] for c in person.outlook.contacts()) == ["Ada", "Grace", "Hedy"]
    assert contacts_state(person).state == SyncState.IN_SYNC
