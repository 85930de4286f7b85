"""The guards of DESIGN.md §5 (a part of `reconcile._Reconciler`): a side that suddenly returns nothing where many
links exist, or a run that would delete more than a set share of a user's records, refuses the plan instead of
deleting (the mass-delete breaker)."""

from __future__ import annotations

from sync.engine.plan import ActionKind, Refusal
from sync.engine.records import Side

SF, OL = Side.SALESFORCE, Side.OUTLOOK
RESHAPED_REASON = "_reshaped"


class GuardRules:
    """A mixin of `_Reconciler`: it relies on the reconciler's guards, links, changes, write actions and object."""

    def _guard(self) -> Refusal | None:
        if not self.guards.enabled:
            return None
        total: int | None = None  # counted only when a plan deletes enough to ask (a database store COUNTs)
        for side in (SF, OL):
            changes = self.changes[side]
            if changes.full and changes.in_scope_count() == 0:
                linked = sum(1 for link in self.links
                             if link.id_on(side) and link.gone is not side and not link.is_released)
                if linked >= self.guards.empty_side_min_links:
                    return Refusal("side_empty", _EMPTY_REASON[side].format(obj=self.object_type, linked=linked),
                                   linked)
        for side in (SF, OL):
            # A copy replaced by its new shape (a series and its occurrences) is not a loss the guard is about.
            deletes = sum(1 for a in self.write_actions if a.kind is ActionKind.DELETE and a.side is side
                          and not a.reason.endswith(RESHAPED_REASON))
            if deletes < self.guards.min_deletes:
                continue
            if total is None:
                total = len(self.links)
            if deletes > self.guards.max_delete_share * max(total, 1):
                return Refusal("mass_delete", _MASS_DELETE_REASON.format(
                    deletes=deletes, side=SIDE_NAME[side], source=SIDE_NAME[side.other], total=total,
                    obj=self.object_type, share=round(self.guards.max_delete_share * 100)), deletes)
        return None


SIDE_NAME = {SF: "Salesforce", OL: "Outlook"}
_EMPTY_REASON: dict[Side, str] = {
    SF: "Salesforce returned no {obj} at all although {linked} are synced. Nothing was deleted. Check the user's "
        "Salesforce access and the data set filters, then sync again (or reset if the records really are gone).",
    OL: "Outlook returned no {obj} at all although {linked} are synced. Nothing was deleted. Check that the "
        "mailbox, folder and permissions are still there, then sync again (or reset if they really are gone).",
}
_MASS_DELETE_REASON = (
    "This sync would delete {deletes} {obj} in {side}, more than {share}% of the user's {total} synced {obj}. "
    "Nothing was deleted. Check that the user can still see them in {source} (access, mailbox, folder, data set "
    "filters), then sync again, or reset the user's sync to pair what both sides hold now."
)

