"""Looking up many stamped items at once through Graph (recovering a run's pending creates): the documented
extended-property $filter per Salesforce id, 20 to a $batch, instead of one request per record; To Do tasks from
the list's index and one batched read."""

import datetime as dt

from sync.connectors.graph import SALESFORCE_ID_PROPERTY
from sync.engine import CreateRequest, LookupRequest, SyncObject

N = 60


def stamp(prefix: str, n: int) -> str:
    return f"{prefix}{n:012d}AAA"


def test_sixty_contacts_are_looked_up_in_a_few_batches(mailbox, control, email, plain):
    side = mailbox.side(SyncObject.CONTACTS)
    side.changes(None)
    made = side.create([CreateRequest({"last_name": f"Lee{n}"}, stamp("003", n)) for n in range(N)])
    assert all(result.ok for result in made)
    outside = plain.add_contact(folder=None, surname="Elsewhere", singleValueExtendedProperties=[
        {"id": SALESFORCE_ID_PROPERTY, "value": stamp("003", 5)}])  # the same stamp outside the sync folder
    requests = [LookupRequest(SyncObject.CONTACTS, stamp("003", n), {}, ()) for n in range(N)]
    requests[3:3] = [LookupRequest(SyncObject.CONTACTS, "003NOPE", {}, ()),
                     LookupRequest(SyncObject.CONTACTS, None, {}, ())]
    requests.append(LookupRequest(SyncObject.CONTACTS, stamp("003", 0), {}, ()))  # asked twice: found twice

    fresh = mailbox.side(SyncObject.CONTACTS)
    control.reset_stats()
    found = fresh.lookup_many(requests)
    stats = control.stats()
    # the folder's id, then the 61 stamps asked (each once) in 4 $batch requests: was a request per record
    assert stats["requests_by_user"][email] == 1 + 4
    assert sum(stats["batched"].values()) == N + 1

    ids = [result.record_id for result in made]
    assert [[r.id for r in records] for records in found] == [
        *([ids[n]] for n in range(3)), [], [], *([ids[n]] for n in range(3, N)), [ids[0]]]
    assert all(outside["id"] not in [r.id for r in records] for records in found)
    assert found[0][0].salesforce_id == stamp("003", 0) and found[0][0].fields["last_name"] == "Lee0"


def test_events_are_looked_up_in_one_batch(mailbox, control, email):
    side = mailbox.side(SyncObject.EVENTS)
    side.changes(None)
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=2)
    made = side.create([CreateRequest({"subject": f"Meeting {n}", "start": start + dt.timedelta(hours=n),
                                       "end": start + dt.timedelta(hours=n, minutes=30)}, stamp("00U", n))
                        for n in range(5)])
    control.reset_stats()
    found = mailbox.side(SyncObject.EVENTS).lookup_many(
        [LookupRequest(SyncObject.EVENTS, stamp("00U", n), {}, ()) for n in range(6)])
    assert control.stats()["requests_by_user"][email] == 1
    assert [[r.id for r in records] for records in found] == [[m.record_id] for m in made] + [[]]
    assert found[2][0].fields["subject"] == "Meeting 2"


def test_sixty_tasks_are_looked_up_from_the_index_in_a_few_requests(mailbox, control, email):
    side = mailbox.side(SyncObject.TASKS)
    side.changes(None)
    made = side.create([CreateRequest({"subject": f"Task {n}"}, stamp("00T", n)) for n in range(N)])
    fresh = mailbox.side(SyncObject.TASKS)
    control.reset_stats()
    found = fresh.lookup_many([LookupRequest(SyncObject.TASKS, stamp("00T", n), {}, ()) for n in range(N + 1)])
    # the default list, the list's stamps (one page of 200), the 60 tasks in 3 $batch requests
    assert control.stats()["requests_by_user"][email] == 1 + 1 + 3
    assert [[r.id for r in records] for records in found] == [[m.record_id] for m in made] + [[]]
    assert fresh.lookup(LookupRequest(SyncObject.TASKS, stamp("00T", 7), {}, ()))[0].id == made[7].record_id
