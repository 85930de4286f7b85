"""The console's audit trail page: every change made through the services, newest first, filtered by who, what it
was about, the action, a synced user or a configuration; each with the names of the fields it changed."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render

from audit.filters import (
    MAX_FIELDS,
    SYSTEM,
    action_label,
    changed_fields,
    filter_entries,
    object_choices,
    object_kind,
)
from audit.models import AuditEntry
from configurations.models import OutlookConfiguration
from syncadmin.views import console_view
from users.models import SyncUser

PAGE_SIZE = 50


@console_view
def entry_list(request):
    """The audit trail, 50 entries to a page (admins and support; API-only accounts and anonymous visitors are
    refused like on every console page)."""
    if not request.user.has_perm("audit.view_auditentry"):
        raise PermissionDenied("Your role may not read the audit trail.")
    entries, form = filter_entries(AuditEntry.objects.all(), request.GET)
    invalid = form.is_bound and not form.is_valid()
    page = Paginator(entries.order_by("-at", "-id"), PAGE_SIZE).get_page(request.GET.get("page"))
    # Entries outlive what they describe: link a configuration or a user only while it exists (one query each).
    configurations = set(OutlookConfiguration.objects.filter(
        pk__in={e.configuration_id for e in page.object_list if e.configuration_id}).values_list("pk", flat=True))
    users = dict(SyncUser.objects.filter(
        pk__in={e.subject_user_id for e in page.object_list if e.subject_user_id}).values_list("pk", "username"))
    kinds = dict(object_choices())
    rows = []
    for entry in page.object_list:
        fields = changed_fields(entry.changes)
        rows.append({
            "entry": entry,
            "actor": entry.actor_name or SYSTEM,
            "action": action_label(entry.action),
            "kind": kinds.get(object_kind(entry.action), ""),
            "configuration_exists": entry.configuration_id in configurations,
            "user_exists": entry.subject_user_id in users,
            "fields": fields[:MAX_FIELDS],
            "more_fields": max(0, len(fields) - MAX_FIELDS),
        })
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "audit/list.html", {
        "form": form,
        "page": page,
        "rows": rows,
        "invalid": invalid,
        "filtered": form.is_bound and any(request.GET.get(name, "").strip() for name in form.fields),
        "querystring": query.urlencode(),
        "configurations": _configuration_choices(form),
    })


def _configuration_choices(form) -> list[tuple[int, str]]:
    """The configurations to filter by: those that exist, and a deleted one being filtered by (its entries keep
    its name)."""
    choices = list(OutlookConfiguration.objects.order_by("name").values_list("pk", "name"))
    chosen = form.cleaned_data.get("configuration") if form.is_bound and form.is_valid() else None
    if chosen and chosen not in {pk for pk, _ in choices}:
        name = AuditEntry.objects.filter(configuration_id=chosen).values_list("configuration_name", flat=True).first()
        choices.append((chosen, f"{name or f'Configuration {chosen}'} (deleted)"))
    return choices
