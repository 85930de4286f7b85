"""Console pages for sync runs: the list (filters), one run (counts, API calls, timings, errors) and the small
progress partial that the user and run pages poll with htmx while a run is under way."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from sync.connections import ConnectionTestBusy, check_connection
from sync.filters import filter_runs
from sync.forms import connection_form
from sync.models import Connection, SyncRun
from sync.routing import routing_summary
from syncadmin.views import console_view
from users.models import ExchangeRoute

PAGE_SIZE = 50
RUN_RECORD_ERRORS = 500
POLL_SECONDS = 2


def progress_of(run: SyncRun) -> dict:
    """What the progress bar shows: done of total (total unknown while the run is still counting)."""
    total = run.progress_total
    percent = min(100, round(100 * run.progress_done / total)) if total else None
    return {
        "run": run,
        "active": run.state not in SyncRun.TERMINAL_STATES,
        "done": run.progress_done,
        "total": total,
        "percent": percent,
        "poll_seconds": POLL_SECONDS,
    }


def _counts_table(counts: dict) -> list[dict]:
    """Rows of actions (create, update, delete, …) with the number per side, from ``SyncRun.counts``."""
    salesforce, outlook = counts.get("salesforce") or {}, counts.get("outlook") or {}
    order = ["create", "update", "delete"]
    actions = order + sorted((set(salesforce) | set(outlook)) - set(order))
    return [{"action": action, "salesforce": salesforce.get(action, 0), "outlook": outlook.get(action, 0)}
            for action in actions]


@console_view
def run_list(request):
    """Sync runs, newest first, filtered by user, object, state and trigger."""
    runs, form = filter_runs(
        SyncRun.objects.select_related("user", "actor").annotate(error_count=Count("record_errors")),
        request.GET,
    )
    invalid = form.is_bound and not form.is_valid()
    page = Paginator(runs.order_by("-created_at", "-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "sync/runs.html", {
        "form": form,
        "page": page,
        "invalid": invalid,
        "filtered": form.is_bound and any(request.GET.get(name) for name in form.fields),
        "querystring": query.urlencode(),
    })


@console_view
def run_detail(request, pk: int):
    """One run: what triggered it, its timings, counts per side and action, API calls, error, record errors."""
    run = get_object_or_404(SyncRun.objects.select_related("user", "actor"), pk=pk)
    record_errors = run.record_errors.all()
    api_calls = run.api_calls or {}
    return render(request, "sync/run.html", {
        "run": run,
        "counts": _counts_table(run.counts or {}),
        "links": (run.counts or {}).get("links", 0),
        "conflicts": (run.counts or {}).get("conflicts", 0),
        "api_calls": [("Salesforce", api_calls.get("salesforce", 0)),
                      (ExchangeRoute(run.exchange_protocol).label if run.exchange_protocol else "Exchange",
                       api_calls.get("exchange", 0))],
        "waited": run.started_at - run.created_at if run.started_at else None,
        "record_errors": record_errors[:RUN_RECORD_ERRORS],
        "record_error_count": record_errors.count(),
        "progress": progress_of(run),
    })


@console_view
def run_progress(request, pk: int):
    """The progress partial; it stops asking once the run has ended."""
    run = get_object_or_404(SyncRun, pk=pk)
    # Polled from the user page or the run page: "reload" leads back to the page the bar sits on.
    page = (request.htmx.current_url_abs_path if request.htmx else None) or ""
    user_page = reverse("users:detail", args=[run.user_id])
    return render(request, "sync/_run_progress.html", {
        "progress": progress_of(run),
        "reload_url": user_page if page.startswith(user_page) else reverse("sync:run", args=[run.pk]),
    })


def _connection_cards(forms_by_kind: dict | None = None, results: dict | None = None) -> list[dict]:
    stored = {c.kind: c for c in Connection.objects.all()}
    cards = []
    for kind, label in Connection.Kind.choices:
        connection = stored.get(kind)
        form = (forms_by_kind or {}).get(kind) or connection_form(
            kind, instance=connection, initial={"kind": kind}, prefix=kind)
        cards.append({"kind": kind, "label": label, "connection": connection, "form": form,
                      "result": (results or {}).get(kind)})
    return cards


@console_view
def connections(request):
    """The Salesforce org and the Exchange endpoint: shown to the console roles, changed by admins, tested by
    those who may test connections. Secrets are write-only."""
    forms_by_kind, results, status = {}, {}, 200
    if request.method == "POST":
        kind = request.POST.get("kind")
        if kind not in Connection.Kind.values:
            return HttpResponseBadRequest("Unknown connection kind.")
        if "test" in request.POST:
            if not request.user.has_perm("users.test_connection"):
                raise PermissionDenied("Your role may not test connections.")
            try:
                results[kind] = check_connection(kind)
            except ConnectionTestBusy as exc:
                results[kind], status = {"ok": False, "busy": True, "detail": str(exc)}, 409
        else:
            if not request.user.has_perm("sync.change_connection"):
                raise PermissionDenied("Only admins change connections.")
            instance = Connection.objects.filter(kind=kind).first()
            form = connection_form(kind, request.POST, instance=instance, prefix=kind)
            if form.is_valid():
                form.save(actor=request.user)
                messages.success(request, f"{Connection.Kind(kind).label} connection saved.")
                return redirect("sync:connections")
            forms_by_kind[kind] = form
    return render(request, "sync/connections.html", {
        "cards": _connection_cards(forms_by_kind, results),
        "routing": routing_summary(),
        "may_change": request.user.has_perm("sync.change_connection"),
        "may_test": request.user.has_perm("users.test_connection"),
    }, status=status)
