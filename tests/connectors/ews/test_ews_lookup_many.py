"""Looking up many stamped items at once over EWS (recovering a run's pending creates): a FindItem per 50 stamps
ORed and a GetItem per 100 items found, instead of a FindItem and a GetItem per record."""

from exchangelib import Contact

from sync.connectors.ews import SALESFORCE_ID_FIELD
from sync.connectors.ews.side import LOOKUP_CHUNK
from sync.engine import CreateRequest, LookupRequest, SyncObject

N = 60


def stamp(n: int) -> str:
    return f"00T{n:012d}AAA"


def test_sixty_pending_creates_are_looked_up_in_a_few_calls(mailbox, control, email):
    side = mailbox.side(SyncObject.TASKS)
    side.changes(None)
    made = side.create([CreateRequest({"subject": f"Task {n}"}, stamp(n)) for n in range(N)])
    made += side.create([CreateRequest({"subject": "Not ours"})])
    assert all(result.ok for result in made)
    requests = [LookupRequest(SyncObject.TASKS, stamp(n), {}, ()) for n in range(N)]
    requests[7:7] = [LookupRequest(SyncObject.TASKS, "00TNOPE", {}, ()), LookupRequest(SyncObject.TASKS, None, {}, ())]
    requests.append(LookupRequest(SyncObject.TASKS, stamp(3).lower(), {}, ()))  # Exchange compares ignoring case

    fresh = mailbox.side(SyncObject.TASKS)
    control.reset_stats()
    found = fresh.lookup_many(requests)
    assert control.stats()["calls"] == {"GetFolder": 1, "FindItem": 2, "GetItem": 1}  # was 2 per record

    ids = [result.record_id for result in made]
    assert [[r.id for r in records] for records in found] == [
        *([ids[n]] for n in range(7)), [], [], *([ids[n]] for n in range(7, N)), [ids[3]]]
    assert [records[0].salesforce_id for records in found if records][:N] == [stamp(n) for n in range(N)]
    assert found[0][0].fields["subject"] == "Task 0" and found[0][0].in_scope


def test_lookup_is_one_request_of_lookup_many(mailbox, control):
    side = mailbox.side(SyncObject.TASKS)
    side.changes(None)
    [made] = side.create([CreateRequest({"subject": "Alone"}, stamp(1))])
    control.reset_stats()
    for n in range(3):
        side.lookup(LookupRequest(SyncObject.TASKS, stamp(n), {}, ()))
    # the calendar's or task folder's real id once per side; a GetItem only for what was found
    assert control.stats()["calls"] == {"GetFolder": 1, "FindItem": 3, "GetItem": 1}
    assert [r.id for r in side.lookup(LookupRequest(SyncObject.TASKS, stamp(1), {}, ()))] == [made.record_id]
    assert side.lookup_many([]) == []


def test_contacts_are_looked_up_in_their_folder_only(mailbox, plain):
    side = mailbox.side(SyncObject.CONTACTS)
    side.changes(None)
    made = side.create([CreateRequest({"last_name": f"Lee{n}"}, f"003{n:012d}AAA") for n in range(LOOKUP_CHUNK + 2)])
    outside = Contact(account=plain, folder=plain.contacts, surname="Elsewhere", display_name="Elsewhere")
    setattr(outside, SALESFORCE_ID_FIELD, "003000000000001AAA")  # the same stamp outside the sync folder
    outside.save()
    found = mailbox.side(SyncObject.CONTACTS).lookup_many(
        [LookupRequest(SyncObject.CONTACTS, f"003{n:012d}AAA", {}, ()) for n in range(LOOKUP_CHUNK + 2)])
    assert [[r.id for r in records] for records in found] == [[result.record_id] for result in made]
