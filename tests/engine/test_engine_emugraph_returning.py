"""Cards that come back into the sync folder under a new id (moved out and back in, restored from Deleted Items):
Exchange gives a moved item a new id and the item keeps its Salesforce id stamp (issue 17, item 11's follow-up).

- Without propagating deletions the link of a card that left is a tombstone: the card back in scope relinks to the
  same Salesforce contact, never creates a second one.
- With propagating deletions the card's leaving deleted the Salesforce copy: back in scope, the card is created in
  Salesforce once, and never deleted for carrying the stamp of a Salesforce record that is gone.
"""

from __future__ import annotations

from engine_harness import BOTH, OL, S2O, SF, World

from sync.engine.unlinked import COPY_OF_SYNCED

ADA = {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}


def _move_back(world: World, ol_id: str, stamp: str) -> str:
    """The card leaves the folder (its id is gone from it) and comes back under a new id with its stamp."""
    fields = dict(world.ol.items[ol_id].fields)
    world.ol.remove(ol_id)
    return world.ol.add(fields, salesforce_id=stamp)


def test_moved_out_and_back_without_propagation_relinks_to_the_same_contact():
    world = World("contacts", BOTH, propagate_deletions=False)
    sf_id, ol_id = world.synced_pair(SF, **ADA)
    fields = dict(world.ol.items[ol_id].fields)
    world.ol.remove(ol_id)
    assert world.sync().ok and world.link_of(SF, sf_id).gone is OL  # a tombstone
    back = world.ol.add(fields, salesforce_id=sf_id)
    sf_w, ol_w = world.writes_during(world.sync)
    assert not sf_w and not ol_w and list(world.sf.items) == [sf_id]
    link = world.link_of(SF, sf_id)
    assert (link.outlook_id, link.gone) == (back, None)
    assert not world.last.issues
    world.sf.edit(sf_id, title="Analyst")  # the relinked pair syncs again
    world.sync()
    assert world.ol.items[back].fields["title"] == "Analyst"
    assert world.writes_during(world.sync) == ({}, {})


def test_moved_out_and_back_between_two_syncs_keeps_its_link():
    for propagate in (True, False):
        world = World("contacts", BOTH, propagate_deletions=propagate)
        sf_id, ol_id = world.synced_pair(SF, **ADA)
        back = _move_back(world, ol_id, sf_id)
        sf_w, ol_w = world.writes_during(world.sync)
        assert not sf_w and not ol_w and list(world.sf.items) == [sf_id]
        assert world.link_of(SF, sf_id).outlook_id == back
        assert COPY_OF_SYNCED not in [i.code for i in world.last.issues]


def test_moved_out_and_back_with_propagation_is_created_again_once_and_never_deleted():
    world = World("contacts", BOTH, propagate_deletions=True)
    sf_id, ol_id = world.synced_pair(SF, **ADA)
    fields = dict(world.ol.items[ol_id].fields)
    world.ol.remove(ol_id)
    world.sync()
    assert sf_id not in world.sf.items  # its leaving deleted the Salesforce copy
    back = world.ol.add(fields, salesforce_id=sf_id)
    sf_w, ol_w = world.writes_during(world.sync)
    assert sf_w["create"] == 1 and not ol_w["delete"] and back in world.ol.items
    (again,) = world.sf.items
    assert world.counterpart(SF, again) == back and world.ol.items[back].salesforce_id == again
    assert world.writes_during(world.sync) == ({}, {})
    assert world.writes_during(world.reset) == ({}, {})


def test_a_card_back_long_after_its_contact_was_deleted_is_never_deleted_by_a_full_sync():
    world = World("contacts", BOTH, propagate_deletions=True)
    sf_id, ol_id = world.synced_pair(SF, **ADA)
    fields = dict(world.ol.items[ol_id].fields)
    world.ol.remove(ol_id)
    world.sync()
    world.sync()
    back = world.ol.add(fields, salesforce_id=sf_id)
    world.reset()  # a full read, where the card could look like our copy of a deleted record
    assert back in world.ol.items
    (again,) = world.sf.items
    assert again != sf_id and world.counterpart(SF, again) == back
    assert world.writes_during(lambda: world.sync(full=True)) == ({}, {})


def test_salesforce_to_outlook_still_removes_a_copy_whose_record_is_gone():
    world = World("contacts", S2O)
    sf_id, ol_id = world.synced_pair(SF, **ADA)
    world.sf.remove(sf_id)
    world.reset()
    assert ol_id not in world.ol.items
