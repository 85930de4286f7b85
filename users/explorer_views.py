"""The "Find a record" panel of the user page: the record explorer (sync.explorer) in the console. A search by
e-mail, name, subject or either end's id shows the verdict and its reasons, or the records found to choose from.
htmx swaps the panel's result in place; without JavaScript the form reloads the user page with it. Reads only."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from configurations.models import SyncObject
from sync import explorer
from syncadmin.views import console_view
from users.api import synced_users
from users.views import _detail_context, _require

# Bootstrap badge colours per verdict: green synced, blue about to sync, orange a person may act, red failed.
VERDICT_BADGES = {
    "linked": "text-bg-success",
    "would_link": "text-bg-primary",
    "would_create": "text-bg-primary",
    "pending": "text-bg-primary",
    "failed": "text-bg-danger",
    "ambiguous": "text-bg-warning",
    "out_of_scope": "text-bg-secondary",
    "over_limit": "text-bg-warning",
    "not_synced": "text-bg-secondary",
    "not_found": "text-bg-light border",
    "several_found": "text-bg-light border",
}
VERDICT_LABELS = {
    "linked": "Linked", "would_link": "Would link", "would_create": "Would be copied", "pending": "Being created",
    "failed": "Failed", "ambiguous": "Ambiguous match", "out_of_scope": "Out of scope", "over_limit": "Over the limit",
    "not_synced": "Not synced", "not_found": "Not found", "several_found": "Several found",
}


def explorer_context(user, params) -> dict:
    """The panel's state from the query: the object and what was asked, and the answer (or the input's error)."""
    object_type = params.get("object") or SyncObject.CONTACTS
    asked = {name: (params.get(name) or "").strip() for name in ("q", "salesforce_id", "outlook_id")}
    shown = asked["q"] or asked["salesforce_id"] or asked["outlook_id"]
    context = {"explorer_object": object_type, "explorer_q": shown,
               "explorer_asked": any(name in params for name in asked)}
    if not context["explorer_asked"]:
        return context
    try:
        answer = explorer.explain_record(user, object_type, **{k: v or None for k, v in asked.items()})
    except explorer.ExplorerInputError as exc:
        context["explorer_error"] = " ".join(m for messages in exc.errors.values() for m in messages)
        return context
    context.update(answer=answer, answer_data=answer.as_dict(), verdict_badge=VERDICT_BADGES[answer.verdict],
                   verdict_label=VERDICT_LABELS[answer.verdict])
    return context


@console_view
@require_GET
def user_records(request, pk: int):
    """Find a record of the user and say why it syncs or not; htmx gets the result alone, a plain GET the page."""
    _require(request, "users.view_syncuser")
    user = get_object_or_404(synced_users(), pk=pk)
    context = explorer_context(user, request.GET)
    status = 400 if context.get("explorer_error") and not request.htmx else 200
    if request.htmx:
        return render(request, "users/_explorer_result.html", {"sync_user": user, **context})
    return render(request, "users/detail.html", {**_detail_context(request, user), **context}, status=status)
