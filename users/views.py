"""Console pages for synced users: the list (filters, states at a glance) and the user page (state, runs, errors,
sync now, test connection, reset). The work is done by users.operations and the services; these views only ask
and show."""

from __future__ import annotations

from collections import Counter
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_http_methods, require_POST

from configurations import csv_import
from configurations.models import OutlookConfiguration, SyncObject
from sync.connections import ConnectionTestBusy
from sync.leases import SyncUnavailable
from sync.models import RecordError, SyncRun
from sync.options import synced_objects
from sync.queue import QueueUnavailable
from sync.routing import mailbox_route
from sync.views import progress_of
from syncadmin.views import console_view
from users import bulk, operations, services
from users.api import synced_users
from users.filters import FILTERS, NOT_ASSIGNED, filter_users
from users.forms import ResetForm
from users.models import ExchangeRoute, SyncState, SyncUser, UserObjectState

PAGE_SIZE = 50
RECENT_RUNS = 20
RECENT_RECORD_ERRORS = 50

# Bootstrap badge colours: green done, red failed, orange a person must act, blue working, grey idle.
STATE_BADGES = {
    SyncState.IN_SYNC: "text-bg-success",
    SyncState.ERROR: "text-bg-danger",
    SyncState.NEEDS_ATTENTION: "text-bg-warning",
    SyncState.SYNCING: "text-bg-primary",
    SyncState.INITIAL_SYNC: "text-bg-primary",
    SyncState.NOT_STARTED: "text-bg-secondary",
    SyncState.DISABLED: "text-bg-secondary",
}
RUNNING_STATES = (SyncState.INITIAL_SYNC, SyncState.SYNCING)
OBJECT_LABELS = dict(SyncObject.choices)
STATE_LABELS = dict(SyncState.choices)


def object_states(user: SyncUser) -> list[dict]:
    """One entry per object, in the usual order, from the prefetched state rows (no query of its own)."""
    rows = {state.object: state for state in user.object_states.all()}
    entries = []
    for name in SyncObject.values:
        state = rows.get(name) or UserObjectState(user=user, object=name)
        entries.append({
            "object": name,
            "label": OBJECT_LABELS[name],
            "state": state.state,
            "state_label": STATE_LABELS.get(state.state, state.state),
            "badge": STATE_BADGES.get(state.state, "text-bg-secondary"),
            "running": state.state in RUNNING_STATES,
            "row": state,
        })
    return entries


def _allowed(request) -> dict:
    return {
        "may_sync_now": request.user.has_perm("users.sync_now"),
        "may_test_connection": request.user.has_perm("users.test_connection"),
        "may_reset": request.user.has_perm("users.reset_sync"),
    }


def _require(request, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied("Your role does not allow this action.")


@console_view
def user_list(request):
    """Synced users, filtered by state, configuration and search; each object's state as a badge."""
    # An empty field of the filter form means "any"; a bad one is shown with its error, the others still apply.
    params = {name: request.GET[name] for name in FILTERS if request.GET.get(name, "").strip()}
    queryset, errors = filter_users(synced_users(), params, FILTERS)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [{"user": user, "objects": object_states(user)} for user in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "users/list.html", {
        "page": page,
        "rows": rows,
        "filter_errors": errors,
        "filters": {name: request.GET.get(name, "") for name in FILTERS},
        "configurations": OutlookConfiguration.objects.order_by("name").values("pk", "name", "active"),
        "not_assigned": NOT_ASSIGNED,
        "states": SyncState.choices,
        "exchange_choices": [(r.value, r.label) for r in (ExchangeRoute.EWS, ExchangeRoute.GRAPH)],
        "object_choices": SyncObject.choices,
        "querystring": query.urlencode(),
        "filtered": bool(params),
        "bulk_choices": bulk_choices(request),
        "applied_filters": params if not errors else {k: v for k, v in params.items() if k not in errors},
        "may_import": request.user.has_perm("users.change_syncuser"),
    })


def _detail_context(request, user: SyncUser) -> dict:
    effective = services.effective_configuration(user)
    synced = synced_objects(effective.configuration) if effective else []
    runs = list(SyncRun.objects.filter(user=user).select_related("actor")[:RECENT_RUNS])
    active_runs = [run for run in runs if run.state not in SyncRun.TERMINAL_STATES]
    for run in active_runs:
        run.progress = progress_of(run)
    record_errors = RecordError.objects.filter(run__in=[run.pk for run in runs]).select_related("run")
    states = object_states(user)
    waiting = {run.object: run for run in active_runs if run.state == SyncRun.State.QUEUED}
    for entry in states:
        entry["synced"] = entry["object"] in synced
        entry["waiting"] = waiting.get(entry["object"])
    return {
        "sync_user": user,
        "route": mailbox_route(user),
        "route_choices": ExchangeRoute.choices,
        "may_route": request.user.has_perm("users.change_syncuser"),
        "effective": effective,
        "synced": synced,
        "objects": states,
        "runs": runs,
        "active_runs": active_runs,
        "record_errors": record_errors.order_by("-run__created_at", "pk")[:RECENT_RECORD_ERRORS],
        "record_error_count": record_errors.count(),
        "recent_runs": RECENT_RUNS,
        "user_url": reverse("users:detail", args=[user.pk]),
        **_allowed(request),
    }


@console_view
def user_detail(request, pk: int):
    """One user: each object's state, the last error and what to do, recent runs and record errors, actions."""
    user = get_object_or_404(synced_users(), pk=pk)
    return render(request, "users/detail.html", _detail_context(request, user))


def _busy_message(exc: SyncUnavailable) -> str:
    if exc.running_run_id is None:
        return str(exc)
    url = reverse("sync:run", args=[exc.running_run_id])
    return format_html('{} <a href="{}" class="alert-link">Open run {}</a> to follow it.', str(exc), url,
                       exc.running_run_id)


def _refused(request, exc: SyncUnavailable) -> None:
    """Nothing was queued: amber when every object was already under way (a sync is coming anyway, and the message
    links its run), red when there is nothing to sync."""
    (messages.warning if isinstance(exc, operations.ObjectsBusy) else messages.error)(request, _busy_message(exc))


def _queued(request, runs: operations.QueuedRuns) -> None:
    """What was queued and, in the same sentence, what was already under way: green when everything asked for was
    queued, blue when some objects were left to the runs they already had."""
    sentence = f"{runs.sentence()} The progress shows below."
    (messages.info if runs.busy else messages.success)(request, sentence)


@console_view
@require_POST
def user_sync_now(request, pk: int):
    """Sync now: queue a run of every object the configuration syncs (or those posted as ``objects``)."""
    _require(request, "users.sync_now")
    user = get_object_or_404(SyncUser, pk=pk)
    objects = request.POST.getlist("objects") or None
    if objects and any(name not in SyncObject.values for name in objects):
        messages.error(request, f"Unknown object; choose among {', '.join(SyncObject.values)}.")
        return redirect("users:detail", pk=user.pk)
    try:
        runs = operations.sync_now(user, objects, actor=request.user)
    except SyncUnavailable as exc:
        _refused(request, exc)
    except QueueUnavailable as exc:
        messages.error(request, str(exc))
    else:
        _queued(request, runs)
    return redirect("users:detail", pk=user.pk)


@console_view
@require_POST
def user_test_connection(request, pk: int):
    """Check both ends for this user; htmx gets the results alone, a plain POST the whole page with them."""
    _require(request, "users.test_connection")
    user = get_object_or_404(synced_users(), pk=pk)
    status = 200
    try:
        result = operations.test_connection(user, actor=request.user)
        checks = [("Salesforce", result["salesforce"]), ("Exchange", result["exchange"])]
    except ConnectionTestBusy as exc:  # htmx swaps a 200 only: the message shows in place either way
        checks, status = [("Connection test", {"ok": False, "detail": str(exc)})], 409
    if request.htmx:
        return render(request, "users/_connection_test.html", {"checks": checks})
    return render(request, "users/detail.html", {**_detail_context(request, user), "checks": checks}, status=status)


@console_view
@require_http_methods(["POST"])
def user_route(request, pk: int):
    """Route the user's mailbox to EWS or Graph, or back to the connections' routing (admins)."""
    _require(request, "users.change_syncuser")
    user = get_object_or_404(SyncUser, pk=pk)
    try:
        user = services.set_exchange_route(user, request.POST.get("exchange_route", ""), actor=request.user)
    except services.SyncUserInvalid as exc:
        messages.error(request, " ".join(exc.errors["exchange_route"]))
    else:
        route = mailbox_route(user)
        messages.success(request, f"{user}'s mailbox is served by {route.label} ({route.detail}).")
    return redirect("users:detail", pk=user.pk)


@console_view
@require_http_methods(["GET", "POST"])
def user_reset(request, pk: int):
    """Reset, in two steps: a page that says what reset does and does not do, then the POST that does it."""
    _require(request, "users.reset_sync")
    user = get_object_or_404(SyncUser, pk=pk)
    effective = services.effective_configuration(user)
    synced = synced_objects(effective.configuration) if effective and user.active else []
    if not synced:
        messages.error(request, f"{user} has no active configuration that syncs anything: there is nothing to reset.")
        return redirect("users:detail", pk=user.pk)
    if request.method == "POST":
        form = ResetForm(request.POST, synced=synced)
        if form.is_valid():
            try:
                runs = operations.reset_sync(user, form.cleaned_data["objects"], actor=request.user)
            except SyncUnavailable as exc:
                _refused(request, exc)
            except QueueUnavailable as exc:
                messages.error(request, f"Nothing was reset. {exc}")
            else:
                _queued(request, runs)
            return redirect("users:detail", pk=user.pk)
    else:
        chosen = [name for name in request.GET.getlist("objects") if name in synced]
        form = ResetForm(synced=synced, initial={"objects": chosen or synced})
    return render(request, "users/reset.html", {"sync_user": user, "form": form, "effective": effective})


# ---- bulk actions and assignments as CSV ----------------------------------------------------------------------------

BULK_PERMISSIONS = {"sync": "users.sync_now", "reset": "users.reset_sync", "assign": "users.change_syncuser",
                    "unassign": "users.change_syncuser"}
BULK_LABELS = {"sync": "Sync now", "reset": "Reset and sync", "assign": "Assign to a configuration",
               "unassign": "Unassign"}
BULK_EXAMPLES = 10  # users named on the confirmation page; the rest are counted


def bulk_choices(request) -> list[tuple[str, str]]:
    """The bulk actions the reader's role allows, as (value, label)."""
    return [(name, BULK_LABELS[name]) for name in bulk.ACTIONS if request.user.has_perm(BULK_PERMISSIONS[name])]


def _posted_filters(request) -> dict[str, str]:
    return {name: request.POST[f"filter_{name}"] for name in FILTERS
            if request.POST.get(f"filter_{name}", "").strip()}


@console_view
@require_POST
def user_bulk(request):
    """A bulk action on the users ticked on the list (or every user matching its filters), in two steps: a page that
    says what will be done to how many users, then the POST (``confirm``) that does it."""
    filters = _posted_filters(request)
    back = reverse("users:list") + (f"?{urlencode(filters)}" if filters else "")
    action = request.POST.get("action", "")
    if action not in BULK_PERMISSIONS:
        messages.error(request, "Choose what to do with the selected users (sync now, reset, assign or unassign), "
                                "then apply it again.")
        return redirect(back)
    _require(request, BULK_PERMISSIONS[action])
    every = request.POST.get("all_matching") == "1"
    try:
        users, unknown = bulk.select_users(None if every else request.POST.getlist("users"),
                                           filters if every else None)
    except bulk.BulkInvalid as exc:
        messages.error(request, f"Nothing was done. {exc}")
        return redirect(back)
    configuration = None
    if request.POST.get("configuration", "").isdigit():
        configuration = OutlookConfiguration.objects.filter(pk=int(request.POST["configuration"])).first()
    if action == "assign" and configuration is None:
        messages.error(request, "Nothing was done: choose the configuration to assign the selected users to.")
        return redirect(back)
    count = len(users) + len(unknown)
    expected = request.POST.get("expected", "")
    if request.POST.get("confirm") != "1" or expected != str(count):
        # The first step, or the selection changed since the reader confirmed it (a filter now matches others).
        return render(request, "users/bulk_confirm.html", {
            "action": action, "action_label": BULK_LABELS[action], "count": count, "every": every,
            "users": users[:BULK_EXAMPLES], "more": max(0, len(users) - BULK_EXAMPLES), "unknown": unknown,
            "configuration": configuration, "filters": filters, "back": back,
            "picked": [user.pk for user in users], "changed": request.POST.get("confirm") == "1",
        })
    try:
        result = bulk.bulk_action(action, users, unknown=unknown, configuration=configuration, actor=request.user)
    except bulk.BulkInvalid as exc:
        messages.error(request, f"Nothing was done. {exc}")
    except QueueUnavailable as exc:
        messages.error(request, str(exc))
    else:
        sentence = result.sentence()
        if action in ("sync", "reset") and result.queued:
            sentence = format_html('{} <a href="{}?trigger={}" class="alert-link">Follow the runs</a>.', sentence,
                                   reverse("sync:runs"), "reset" if action == "reset" else "manual")
        (messages.success if not result.skipped else messages.warning if not result.queued else messages.info)(
            request, sentence)
    return redirect(back)


@console_view
@require_POST
def user_import_assignments(request):
    """Assignments from a CSV file (``user,configuration`` lines): each line's result on a report page."""
    _require(request, "users.change_syncuser")
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Nothing was imported: choose a CSV file of user,configuration lines first.")
        return redirect("users:list")
    try:
        lines = csv_import.import_assignments(csv_import.decode(upload.read(csv_import.MAX_BYTES + 1)),
                                              actor=request.user)
    except csv_import.ImportInvalid as exc:
        messages.error(request, str(exc))
        return redirect("users:list")
    counts = Counter(line.result for line in lines)
    return render(request, "users/import_report.html", {"lines": lines, "counts": counts, "name": upload.name})
