"""Looking up many records at once in Salesforce (recovering a run's pending creates): their matching-key conditions
ORed, 20 to a query and never more than LOOKUP_QUERY_CHARS of them, instead of one query per record."""

from urllib.parse import quote

from sync.connectors.salesforce.side import LOOKUP_QUERY_CHARS, _lookup_chunks
from sync.connectors.salesforce.soql import LOOKUPS_PER_QUERY
from sync.engine import LookupRequest, SyncObject, match_keys, schema_for
from tests.connectors.salesforce.conftest import owned_by
from tests.connectors.salesforce.test_reads import new_contacts

CONTACTS = SyncObject.CONTACTS
N = 60


def request(fields: dict) -> LookupRequest:
    canonical = schema_for(CONTACTS).canonicalize(fields)
    return LookupRequest(CONTACTS, None, canonical, match_keys(CONTACTS, canonical))


def test_sixty_pending_creates_are_looked_up_in_four_queries(org, user):
    sf = org.sf(user)
    ids = new_contacts(sf, N)  # LastName Person0 … Person59
    by_email = sf.Contact.create({"LastName": "Mail", "Email": "lena@helios.test"})["id"]
    client = org.client(user)
    client.user_info()
    side = client.side(CONTACTS, owned_by(user))
    requests = [request({"last_name": f"person{n}"}) for n in range(N)]
    requests[4:4] = [request({"last_name": "Nobody"}), request({}), request({"email": "LENA@helios.test"})]
    before = client.calls.calls
    found = side.lookup_many(requests)
    assert client.calls.calls - before == 4  # 62 keyed requests, 20 to a query: was one query per record
    assert [[r.id for r in records] for records in found] == [
        *([ids[n]] for n in range(4)), [], [], [by_email], *([ids[n]] for n in range(4, N))]


def test_long_conditions_take_more_queries_and_never_overflow_one():
    short = [(n, "LastName = 'x'") for n in range(45)]
    assert [len(chunk) for chunk in _lookup_chunks(short)] == [LOOKUPS_PER_QUERY, LOOKUPS_PER_QUERY, 5]
    long = [(n, "LastName = '" + "é" * 200 + "'") for n in range(10)]  # 1,200 characters each once encoded
    chunks = list(_lookup_chunks(long))
    assert [index for chunk in chunks for index, _ in chunk] == list(range(10))
    assert len(chunks) > 1
    assert all(sum(len(quote(c)) + 10 for _, c in chunk) <= LOOKUP_QUERY_CHARS for chunk in chunks)
    huge = [(0, "LastName = '" + "x" * (LOOKUP_QUERY_CHARS + 1) + "'")]
    assert list(_lookup_chunks(huge)) == [huge]  # one condition always goes, alone
