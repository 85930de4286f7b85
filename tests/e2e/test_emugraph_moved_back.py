"""A contact moved out of the sync folder and then moved back in (on EWS, MoveItem: a new id each time, the
Salesforce id stamp travels with the card). Whatever the deletion option, the user's card is never deleted and
Salesforce ends with one contact for it: with deletions propagating, the Salesforce copy deleted when the card left
is created again, once; without, the tombstoned link is found again and relinked, never a second contact.
"""

import pytest
from exchangelib import Contact
from exchangelib.folders import Contacts
from exchangelib.indexed_properties import EmailAddress

from sync.models import RecordError, RecordLink
from tests.e2e.test_sync_user import sf_rows, sync

pytestmark = pytest.mark.e2e

BOTH = {"direction": "both", "conflict_behavior": "salesforce_wins"}


def _arrange(world, propagate: bool):
    person = world.person()
    world.configure(person, contacts={**BOTH, "propagate_deletions": propagate})
    assert sync(person) == 0  # creates Salesforce_Sync
    folder = person.mailbox.contacts // "Salesforce_Sync"
    elsewhere = Contacts(parent=person.mailbox.contacts, name="Friends")
    elsewhere.save()
    card = Contact(folder=folder, given_name="Ada", surname="Lovelace", display_name="Ada Lovelace",
                   email_addresses=[EmailAddress(email="ada@example.com", label="EmailAddress1")])
    card.save()
    assert sync(person) == 0
    (first,) = sf_rows(person, "SELECT Id, LastName FROM Contact")
    return person, folder, elsewhere, first["Id"]


def _move(folder_from, surname: str, folder_to) -> None:
    folder_from.get(surname=surname).move(folder_to)


def _contacts(person) -> list[dict]:
    return sf_rows(person, "SELECT Id, LastName, Title FROM Contact")


def _no_record_errors(person) -> None:
    errors = RecordError.objects.filter(run__user=person.sync_user)
    assert not errors.exists(), list(errors.values_list("code", "message"))


def test_moved_out_and_back_with_deletions_propagating_is_created_again_once(world):
    person, folder, elsewhere, first_id = _arrange(world, propagate=True)

    _move(folder, "Lovelace", elsewhere)
    assert sync(person) == 0
    assert _contacts(person) == []  # it left the folder: a deletion, and deletions propagate

    _move(elsewhere, "Lovelace", folder)
    assert sync(person) == 0
    assert sync(person) == 0
    assert sync(person, "--reset") == 0  # a full read with matching keeps it too
    (again,) = _contacts(person)
    assert again["LastName"] == "Lovelace" and again["Id"] != first_id
    assert [c.surname for c in folder.all()] == ["Lovelace"]  # the user's card is still there
    link = RecordLink.objects.get(user=person.sync_user, object="contacts")
    assert link.salesforce_id == again["Id"]

    card = folder.get(surname="Lovelace")
    card.job_title = "Analyst"
    card.save(update_fields=["job_title"])
    assert sync(person) == 0
    assert [(c["Id"], c["Title"]) for c in _contacts(person)] == [(again["Id"], "Analyst")]
    _no_record_errors(person)


def test_moved_out_and_back_without_deletions_propagating_relinks(world):
    person, folder, elsewhere, first_id = _arrange(world, propagate=False)

    _move(folder, "Lovelace", elsewhere)
    assert sync(person) == 0
    assert [c["Id"] for c in _contacts(person)] == [first_id]  # kept: a tombstone

    _move(elsewhere, "Lovelace", folder)
    assert sync(person) == 0
    assert sync(person) == 0
    assert [c["Id"] for c in _contacts(person)] == [first_id]  # relinked, not a second contact
    assert [c.surname for c in folder.all()] == ["Lovelace"]
    card = folder.get(surname="Lovelace")
    link = RecordLink.objects.get(user=person.sync_user, object="contacts")
    assert (link.salesforce_id, link.outlook_id) == (first_id, card.id)

    card.job_title = "Analyst"
    card.save(update_fields=["job_title"])
    assert sync(person) == 0
    assert [(c["Id"], c["Title"]) for c in _contacts(person)] == [(first_id, "Analyst")]
    assert sync(person, "--reset") == 0
    assert [c["Id"] for c in _contacts(person)] == [first_id]
    _no_record_errors(person)
