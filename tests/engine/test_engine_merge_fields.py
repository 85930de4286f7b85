"""Field-level merge (issue 19, part 2): with `merge_fields`, a pair changed on both sides is merged field by field
(sync.engine.merge); the stateful machines of test_engine_stateful.py check the same invariants at random."""

from __future__ import annotations

import json

import pytest
from engine_harness import BOTH, OL, OL_WINS, S2O, SF, SF_WINS, World

from sync.engine import DataSetting, Direction, schema_for
from sync.engine.merge import digest_matches, field_digest, merge_fields_of, merge_records

CONTACT = {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com", "title": "Buyer",
           "business_phone": "+33 1 00", "mobile_phone": "+33 6 00", "street": "1 Rue A", "city": "Paris",
           "country": "France"}


def contacts(behavior=SF_WINS, **kwargs) -> World:
    return World("contacts", BOTH, behavior, merge_fields=True, **kwargs)


def test_different_fields_changed_on_each_side_are_both_kept_and_each_side_gets_the_other_change():
    world = contacts()
    sf_id, ol_id = world.synced_pair(SF, **CONTACT)
    world.ol.edit(ol_id, mobile_phone="+33 6 99")  # the assistant fixes the phone in Outlook
    world.sf.edit(sf_id, title="Head of Buying")  # the rep fixes the title in Salesforce
    sf_writes, ol_writes = world.writes_during(world.sync)
    assert world.last.ok
    for side, record_id in ((SF, sf_id), (OL, ol_id)):
        record = world.side(side).canonical(record_id)
        assert record["mobile_phone"] == "+33 6 99" and record["title"] == "Head of Buying"
    assert sum(sf_writes.values()) == 1 and sum(ol_writes.values()) == 1
    [conflict] = world.last.plan.conflicts
    assert conflict.kind == "merged_fields"
    assert conflict.from_salesforce == ("title",) and conflict.from_outlook == ("mobile_phone",)
    assert conflict.contested == ()
    # Convergence in two runs: the next run writes nothing (the merge's own writes are not echoed).
    sf_writes, ol_writes = world.writes_during(world.sync)
    assert not sf_writes and not ol_writes


@pytest.mark.parametrize("behavior,winner", [(SF_WINS, SF), (OL_WINS, OL)])
def test_the_same_field_changed_on_both_sides_takes_the_winners_value_and_the_rest_is_kept(behavior, winner):
    world = contacts(behavior)
    sf_id, ol_id = world.synced_pair(SF, **CONTACT)
    world.sf.edit(sf_id, title="SF title", city="Lyon")
    world.ol.edit(ol_id, title="OL title", notes="met at the fair")
    world.sync()
    expected_title = "SF title" if winner is SF else "OL title"
    for side, record_id in ((SF, sf_id), (OL, ol_id)):
        record = world.side(side).canonical(record_id)
        assert record["title"] == expected_title
        assert record["city"] == "Lyon" and record["notes"] == "met at the fair"
    [conflict] = world.last.plan.conflicts
    assert conflict.contested == ("title",) and conflict.winner is winner
    assert "title" in (conflict.from_salesforce if winner is SF else conflict.from_outlook)
    assert "address" in conflict.from_salesforce and "notes" in conflict.from_outlook


def test_without_merging_the_whole_record_of_the_winner_stands():
    world = World("contacts", BOTH, SF_WINS)
    sf_id, ol_id = world.synced_pair(SF, **CONTACT)
    world.ol.edit(ol_id, mobile_phone="+33 6 99")
    world.sf.edit(sf_id, title="Head of Buying")
    world.sync()
    assert world.ol.canonical(ol_id)["mobile_phone"] == "+33 6 00"  # lost: the option is what keeps it
    assert world.last.plan.conflicts[0].kind == "changed_both"


def test_a_change_against_a_deletion_is_decided_as_without_merging():
    world = contacts(OL_WINS)
    sf_id, ol_id = world.synced_pair(SF, **CONTACT)
    world.sf.edit(sf_id, title="Head of Buying")
    world.ol.remove(ol_id)
    world.sync()
    assert sf_id not in world.sf.items  # Outlook wins: its deletion stands
    assert world.last.plan.conflicts[0].kind == "changed_vs_deleted"


def test_an_address_merges_as_one_field_so_no_mixed_address_is_made():
    world = contacts(SF_WINS)
    sf_id, ol_id = world.synced_pair(SF, **CONTACT)
    world.sf.edit(sf_id, city="Lyon")
    world.ol.edit(ol_id, street="9 Rue B")  # the same address, changed on both sides: one of the two addresses
    world.sync()
    for side, record_id in ((SF, sf_id), (OL, ol_id)):
        record = world.side(side).canonical(record_id)
        assert (record["street"], record["city"]) == ("1 Rue A", "Lyon")
    assert world.last.plan.conflicts[0].contested == ("address",)


def test_phones_are_independent_slots():
    world = contacts(SF_WINS)
    sf_id, ol_id = world.synced_pair(SF, **CONTACT)
    world.sf.edit(sf_id, business_phone="+33 1 99")
    world.ol.edit(ol_id, mobile_phone="+33 6 99")
    world.sync()
    record = world.sf.canonical(sf_id)
    assert (record["business_phone"], record["mobile_phone"]) == ("+33 1 99", "+33 6 99")
    assert world.ol.canonical(ol_id) == record


def test_an_events_time_merges_as_one_field():
    names = dict(merge_fields_of(schema_for("events")))
    assert names["time"] == ("start", "end", "is_all_day", "recurrence")
    assert "start" not in names and "subject" in names


def test_a_link_without_a_digest_falls_back_to_the_whole_record_once_then_merges():
    world = contacts(SF_WINS)
    sf_id, ol_id = world.synced_pair(SF, **CONTACT)
    old = world.links.by_salesforce_id(sf_id)
    world.links.commit([old.replace(field_hashes=None)], [])  # a link that predates merging
    world.ol.edit(ol_id, mobile_phone="+33 6 99")
    world.sf.edit(sf_id, title="Head of Buying")
    world.sync()
    assert world.last.plan.conflicts[0].kind == "changed_both"  # decided for the whole record, once
    assert world.ol.canonical(ol_id)["mobile_phone"] == "+33 6 00"
    link = world.links.by_salesforce_id(sf_id)
    assert digest_matches(link.field_hashes, link.content_hash)  # the write stored the digest
    world.ol.edit(ol_id, mobile_phone="+33 6 77")
    world.sf.edit(sf_id, title="Director")
    world.sync()
    assert world.last.plan.conflicts[0].kind == "merged_fields"
    assert world.sf.canonical(sf_id)["mobile_phone"] == "+33 6 77"


def test_a_link_without_a_digest_gets_one_when_a_full_sync_reads_it_unchanged():
    world = contacts(SF_WINS)
    sf_id, _ol_id = world.synced_pair(SF, **CONTACT)
    old = world.links.by_salesforce_id(sf_id)
    world.links.commit([old.replace(field_hashes=None)], [])
    sf_writes, ol_writes = world.writes_during(lambda: world.sync(full=True))
    assert not sf_writes and not ol_writes  # no record written: only the link
    link = world.links.by_salesforce_id(sf_id)
    assert digest_matches(link.field_hashes, link.content_hash)


def test_a_stale_digest_is_ignored():
    schema = schema_for("contacts")
    canonical = schema.canonicalize(CONTACT)
    digest = field_digest(schema, canonical, schema.content_hash(CONTACT))
    changed = schema.canonicalize({**CONTACT, "title": "x"})
    assert merge_records(schema, digest, "0" * 64, changed, canonical, SF) is None
    assert merge_records(schema, digest, schema.content_hash(CONTACT), changed, canonical, SF) is not None


def test_the_digest_is_small_and_holds_one_short_hash_per_non_empty_field():
    schema = schema_for("contacts")
    full = dict.fromkeys(schema.names, "x") | {"email": "a@b.c", "birthday": "2000-01-01"}
    digest = field_digest(schema, schema.canonicalize(full), schema.content_hash(full))
    parsed = json.loads(digest)
    assert set(parsed) == {"#"} | {name for name, _ in merge_fields_of(schema)}
    assert all(len(value) == 12 for value in parsed.values())
    assert len(digest) < 400


def test_merging_is_ignored_by_one_way_directions():
    world = World("contacts", S2O, merge_fields=True)
    sf_id, ol_id = world.synced_pair(SF, **CONTACT)
    world.ol.edit(ol_id, mobile_phone="+33 6 99")
    world.sf.edit(sf_id, title="Head of Buying")
    world.sync()
    assert world.ol.canonical(ol_id)["mobile_phone"] == "+33 6 00"  # Salesforce to Outlook overwrites


def test_when_one_merged_write_fails_the_link_is_kept_and_the_next_run_loses_nothing():
    world = contacts(SF_WINS)
    sf_id, ol_id = world.synced_pair(SF, **CONTACT)
    world.ol.edit(ol_id, mobile_phone="+33 6 99")
    world.sf.edit(sf_id, title="Head of Buying")
    world.ol.fail_next(1, code="INJECTED", transient=True)
    world.sync()
    assert not world.last.ok
    assert world.links.by_salesforce_id(sf_id).needs_retry
    world.sync()
    assert world.last.ok
    for side, record_id in ((SF, sf_id), (OL, ol_id)):
        record = world.side(side).canonical(record_id)
        assert record["mobile_phone"] == "+33 6 99" and record["title"] == "Head of Buying"
    sf_writes, ol_writes = world.writes_during(world.sync)
    assert not sf_writes and not ol_writes


@pytest.mark.parametrize("batch_size", [1, 2, 3])
def test_the_two_writes_of_a_merge_stay_in_one_batch(batch_size):
    world = contacts(SF_WINS, batch_size=batch_size)
    pairs = [world.synced_pair(SF, **{**CONTACT, "email": f"p{n}@example.com"}) for n in range(3)]
    for sf_id, ol_id in pairs:
        world.ol.edit(ol_id, mobile_phone="+33 6 99")
        world.sf.edit(sf_id, title="Head of Buying")
    world.sync()
    assert world.last.ok
    for sf_id, _ in pairs:
        link = world.links.by_salesforce_id(sf_id)
        assert link.salesforce_version and link.outlook_version  # both tokens: nothing is read back as a change
    sf_writes, ol_writes = world.writes_during(world.sync)
    assert not sf_writes and not ol_writes


def test_the_engine_setting_carries_the_option():
    assert DataSetting(Direction.BOTH, OL_WINS, merge_fields=True).merge_fields
