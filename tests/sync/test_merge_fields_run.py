"""Field-level merge through the database and on the run page (issue 19, part 2): the link store keeps each link's
field digest, the run records its merged conflicts with the fields taken from each side, and the run page lists them."""

import json

import pytest
from django.utils import timezone

from sync import engine
from sync.engine import DataSetting, Direction, Side, SyncObject, run_sync
from sync.engine.memory import MemorySide, MemoryWatermarks
from sync.engine.merge import digest_matches
from sync.linkstore import DjangoLinkStore
from sync.merges import MERGES_LISTED, merged_conflicts
from sync.models import RecordLink, SyncRun
from sync.runner import _record_outcome
from tests.factories import make_user

pytestmark = pytest.mark.django_db

CONTACT = {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com", "title": "Buyer",
           "mobile_phone": "+33 6 00"}
MERGING = DataSetting(Direction.BOTH, engine.ConflictBehavior.SALESFORCE_WINS, merge_fields=True)


def test_the_digest_survives_the_database_and_a_merge_runs_from_it():
    user = make_user("ben@example.com")
    sf, ol = MemorySide(Side.SALESFORCE, "contacts"), MemorySide(Side.OUTLOOK, "contacts")
    watermarks = MemoryWatermarks()

    def sync():
        return run_sync(SyncObject.CONTACTS, MERGING, sf, ol, DjangoLinkStore(user.pk, "contacts"), watermarks)

    sf_id = sf.add(CONTACT)
    assert sync().ok
    row = RecordLink.objects.get()
    assert digest_matches(row.field_hashes, row.content_hash)
    assert len(row.field_hashes) < 400 and json.loads(row.field_hashes)["#"] == row.content_hash[:12]
    ol_id = row.outlook_id
    ol.edit(ol_id, mobile_phone="+33 6 99")
    sf.edit(sf_id, title="Head of Buying")
    outcome = sync()
    assert outcome.ok
    assert sf.canonical(sf_id)["mobile_phone"] == "+33 6 99" and ol.canonical(ol_id)["title"] == "Head of Buying"
    assert [c.kind for c in outcome.plan.conflicts] == ["merged_fields"]
    assert sum(sf.engine_writes.values()) and sync().writes() == 0


def test_a_link_saved_before_merging_existed_is_read_without_a_digest():
    user = make_user("cy@example.com")
    RecordLink.objects.create(user=user, object="contacts", salesforce_id="003A", outlook_id="OL-A",
                              content_hash="a" * 64)
    link = DjangoLinkStore(user.pk, "contacts").by_salesforce_id("003A")
    assert link is not None and link.field_hashes is None


def _conflict(n: int) -> engine.Conflict:
    return engine.Conflict(f"003{n:012d}", f"OL-{n}", "merged_fields", Side.OUTLOOK, "fields merged",
                           ("title",), ("mobile_phone", "address"), ("title",))


def test_the_run_records_its_merges_and_the_run_page_lists_the_fields_taken_from_each_side(client, support_user):
    user = make_user("dee@example.com")
    plan = engine.Plan(conflicts=[_conflict(1), engine.Conflict("003B", "OL-B", "changed_both", Side.SALESFORCE,
                                                                "salesforce version written to outlook")])
    run = SyncRun.objects.create(user=user, object="contacts", trigger="schedule", state="succeeded",
                                 finished_at=timezone.now())
    _record_outcome(run, engine.SyncOutcome(plan))
    run.save()
    assert run.counts["conflicts"] == 2 and run.counts["merged_total"] == 1
    assert run.counts["merged"] == [{"salesforce_id": "003000000000001", "outlook_id": "OL-1", "winner": "outlook",
                                     "from_salesforce": ["title"], "from_outlook": ["mobile_phone", "address"],
                                     "contested": ["title"]}]
    client.force_login(support_user)
    page = client.get(f"/sync/runs/{run.pk}/").content.decode()
    assert "Merged conflicts" in page
    assert "<td class=\"small\">mobile phone, address</td>" in page
    assert "title (Outlook won)" in page


def test_a_run_without_merges_shows_no_merge_list(client, support_user):
    user = make_user("eve@example.com")
    run = SyncRun.objects.create(user=user, object="contacts", trigger="schedule", state="succeeded",
                                 finished_at=timezone.now())
    _record_outcome(run, engine.SyncOutcome(engine.Plan()))
    run.save()
    assert "merged" not in run.counts
    client.force_login(support_user)
    assert "Merged conflicts" not in client.get(f"/sync/runs/{run.pk}/").content.decode()


def test_a_run_lists_at_most_the_first_merges_and_counts_them_all():
    listed, total = merged_conflicts(engine.Plan(conflicts=[_conflict(n) for n in range(MERGES_LISTED + 5)]))
    assert len(listed) == MERGES_LISTED and total == MERGES_LISTED + 5
