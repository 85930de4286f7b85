"""Field-level merges as a run records them and the run page lists them (the engine decides them: sync.engine.merge).

A run's counts hold its merged conflicts (`SyncRun.counts["merged"]`, at most `MERGES_LISTED`, the total in
`"merged_total"`): for each pair, which fields were taken from Salesforce, which from Outlook, and which were changed
on both sides (the winner's value stood). Ids, not names: the counts never hold record content beyond field names.
"""

from __future__ import annotations

from sync import engine

MERGES_LISTED = 100  # a run merging more lists the first ones (the counts stay small) and says how many there were


def merged_conflicts(plan: engine.Plan) -> tuple[list[dict], int]:
    """The plan's field-level merges in the run's counts' shape, and how many there were."""
    merged = [conflict for conflict in plan.conflicts if conflict.kind == "merged_fields"]
    listed = [{
        "salesforce_id": conflict.salesforce_id or "",
        "outlook_id": conflict.outlook_id or "",
        "winner": str(conflict.winner),
        "from_salesforce": list(conflict.from_salesforce),
        "from_outlook": list(conflict.from_outlook),
        "contested": list(conflict.contested),
    } for conflict in merged[:MERGES_LISTED]]
    return listed, len(merged)


def _words(names: list[str]) -> str:
    return ", ".join(name.replace("_", " ") for name in names) or "none"


def merge_rows(counts: dict) -> list[dict]:
    """The merged conflicts of a run's counts, as the run page lists them."""
    rows = []
    for merge in counts.get("merged") or ():
        winner = "Salesforce" if merge.get("winner") == "salesforce" else "Outlook"
        contested = merge.get("contested") or []
        rows.append({
            "salesforce_id": merge.get("salesforce_id", ""),
            "outlook_id": merge.get("outlook_id", ""),
            "from_salesforce": _words(merge.get("from_salesforce") or []),
            "from_outlook": _words(merge.get("from_outlook") or []),
            "contested": f"{_words(contested)} ({winner} won)" if contested else "none",
        })
    return rows
