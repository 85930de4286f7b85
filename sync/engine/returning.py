"""Outlook items that come back into the sync's scope under a new id: a contact moved out of the sync folder and
moved (or restored from Deleted Items) back in. Exchange gives a moved item a new id, and the item keeps the
Salesforce id the sync stamped on it, so the stamp is what tells the card is one the sync knew.

`returned_items` finds, among the unlinked items of an Outlook change set, those stamped with the Salesforce id of a
link whose Outlook side is gone: a tombstone (the card left earlier, and its leaving was not sent to Salesforce),
or a linked item this change set reports deleted (moved out and back in between two syncs). Such a card takes its
link back, with its new id, instead of being created in Salesforce a second time or taken for a copy.
"""

from __future__ import annotations

from sync.engine.links import Link, LinkTable
from sync.engine.records import ChangeSet, LinkState, Side

OL = Side.OUTLOOK


def returned_items(links: LinkTable, outlook: ChangeSet) -> dict[str, tuple[Link, Link]]:
    """{item id: (the stored link, the same link relinked to that item)} for the cards back in scope.

    A link whose item is in scope in this change set, or not known to be gone, keeps it (a stamped card beside it is
    a copy); of several cards carrying one stamp, the first by id takes the link."""
    out: dict[str, tuple[Link, Link]] = {}
    taken: set[str] = set()
    for item in sorted(outlook.records.values(), key=lambda r: r.id):
        stamp = item.salesforce_id
        if not item.in_scope or not stamp or stamp in taken or links.by_outlook_id(item.id) is not None:
            continue
        link = links.by_salesforce_id(stamp)
        if link is None or link.state is not LinkState.LINKED or link.gone not in (None, OL):
            continue
        old_id = link.outlook_id
        old = outlook.records.get(old_id) if old_id else None
        if old is not None and old.in_scope:
            continue  # the linked item is still here: this card is a copy of it
        if link.gone is not OL and not (old_id is None or old_id in outlook.deleted
                                        or (outlook.full and old is None)):
            continue  # the linked item is not known to be gone: this card is a copy of it
        taken.add(stamp)
        relinked = link.replace(gone=None, gone_out_of_scope=False).with_side(OL, item.id, None)
        out[item.id] = (link, relinked)
    return out
