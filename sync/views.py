"""Console pages for sync runs: the list (filters), one run (counts, API calls, timings, errors) and the small
progress partial that the user and run pages poll with htmx while a run is under way."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django_htmx.http import trigger_client_event

from sync import runs_csv
from sync.connections import ConnectionTestBusy, check_connection, tls_summary
from sync.feeds.health import feeds_overview
from sync.filters import filter_runs
from sync.forms import connection_form
from sync.merges import merge_rows
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


ACTION_LABELS = {"create": "Created", "update": "Updated", "delete": "Deleted",
                 "stamp": "Stamped with the Salesforce id"}
WRITES = ("create", "update", "delete")  # a stamp only marks an item this run linked
# Runs that ended with nothing to do: recorded as succeeded, their "error" says why nothing synced.
NOTHING_TO_SYNC = ("not_assigned", "object_not_synced")


def _counts_table(counts: dict) -> list[dict]:
    """Rows of actions (create, update, delete, …) with the number per side, from ``SyncRun.counts``."""
    salesforce, outlook = counts.get("salesforce") or {}, counts.get("outlook") or {}
    actions = list(WRITES) + sorted((set(salesforce) | set(outlook)) - set(WRITES))
    return [{"action": action, "label": ACTION_LABELS.get(action, action.replace("_", " ").capitalize()),
             "salesforce": salesforce.get(action, 0), "outlook": outlook.get(action, 0)} for action in actions]


def _end_label(run: SyncRun) -> str:
    if run.error_end == "exchange":
        return ExchangeRoute(run.exchange_protocol).label if run.exchange_protocol else "Exchange"
    return "Salesforce" if run.error_end == "salesforce" else ""


def run_outcome(run: SyncRun, record_error_count: int) -> dict:
    """What the run page says about the run's result, each sentence following what really happened: the alert over
    the page, the note under the counts and the one where record errors would be listed."""
    counts = run.counts or {}
    written = sum(number for side in ("salesforce", "outlook") for action, number in (counts.get(side) or {}).items()
                  if action in WRITES and isinstance(number, int))
    ended = run.state in SyncRun.TERMINAL_STATES
    failed = run.state == SyncRun.State.FAILED
    alert = None
    if run.error_code or run.error_message:
        if failed:
            end = _end_label(run)
            alert = {"level": "danger", "lead": f"The run failed on {end}:" if end else "The run failed:"}
        elif run.error_code in NOTHING_TO_SYNC:
            alert = {"level": "info", "lead": ""}
        else:
            alert = {"level": "warning", "lead": "The run finished, but some records could not be synced:"}
    if not ended:
        counts_note = "The counts appear when the run ends."
    elif not counts:
        counts_note = (f"The run stopped after {run.progress_done} write{'s' if run.progress_done != 1 else ''}, "
                       "before it could record them per action." if run.progress_done
                       else "Nothing was written: the run stopped before its first write.")
    elif run.error_code.startswith("guard_"):
        counts_note = "Nothing was written: the guard stopped the run before its first write."
    elif not written and not counts.get("links") and not counts.get("unlinked"):
        counts_note = "Nothing needed writing: both sides were already in step."
    else:
        counts_note = ""
    if record_error_count:
        errors_note = ""
    elif not ended:
        errors_note = "None so far."
    elif failed:
        errors_note = "None: the run stopped as a whole (see the error above), not on single records."
    elif written:
        errors_note = "None: every record of this run was written."
    else:
        errors_note = "None."
    return {"alert": alert, "counts_recorded": ended and bool(counts), "counts_note": counts_note,
            "errors_note": errors_note, "written": written}


def _hour(value: str) -> tuple[datetime | None, str]:
    """The dashboard's drill-down from a bar of its charts: ``hour`` is the start of the hour (ISO 8601)."""
    if not value.strip():
        return None, ""
    try:
        hour = datetime.fromisoformat(value.strip())
    except ValueError:
        return None, f"“{value[:40]}” is not a time: open the hour from the dashboard's charts, or remove it."
    if timezone.is_naive(hour):
        hour = timezone.make_aware(hour)
    return hour.replace(minute=0, second=0, microsecond=0), ""


@console_view
def run_list(request):
    """Sync runs, newest first, filtered by user, object, state and trigger (and, from the dashboard's charts, the
    hour they were queued in)."""
    runs, form = filter_runs(
        SyncRun.objects.select_related("user", "actor").annotate(error_count=Count("record_errors")),
        request.GET,
    )
    hour, hour_error = _hour(request.GET.get("hour", ""))
    if hour is not None:
        runs = runs.filter(created_at__gte=hour, created_at__lt=hour + timedelta(hours=1))
    elif hour_error:
        runs = runs.none()
    invalid = (form.is_bound and not form.is_valid()) or bool(hour_error)
    page = Paginator(runs.order_by("-created_at", "-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    without_hour = request.GET.copy()
    without_hour.pop("hour", None)
    without_hour.pop("page", None)
    return render(request, "sync/runs.html", {
        "form": form,
        "page": page,
        "invalid": invalid,
        "hour": hour,
        "hour_end": hour + timedelta(hours=1) if hour else None,
        "hour_error": hour_error,
        "without_hour": without_hour.urlencode(),
        "filtered": form.is_bound and any(request.GET.get(name) for name in [*form.fields, "hour"]),
        "querystring": query.urlencode(),
    }, status=400 if hour_error else 200)


@console_view
def run_detail(request, pk: int):
    """One run: what triggered it, its timings, counts per side and action, API calls, error, record errors."""
    run = get_object_or_404(SyncRun.objects.select_related("user", "actor"), pk=pk)
    record_errors = run.record_errors.all()
    record_error_count = record_errors.count()
    api_calls = run.api_calls or {}
    return render(request, "sync/run.html", {
        "run": run,
        "counts": _counts_table(run.counts or {}),
        "links": (run.counts or {}).get("links", 0),
        "unlinked": (run.counts or {}).get("unlinked", 0),
        "conflicts": (run.counts or {}).get("conflicts", 0),
        "merges": merge_rows(run.counts or {}),
        "merged_total": (run.counts or {}).get("merged_total", 0),
        "outcome": run_outcome(run, record_error_count),
        "api_calls": [("Salesforce", api_calls.get("salesforce", 0)),
                      (ExchangeRoute(run.exchange_protocol).label if run.exchange_protocol else "Exchange",
                       api_calls.get("exchange", 0))],
        "waited": run.started_at - run.created_at if run.started_at else None,
        "record_errors": record_errors[:RUN_RECORD_ERRORS],
        "record_error_count": record_error_count,
        "progress": progress_of(run),
    })


@console_view
def run_progress(request, pk: int):
    """The progress partial; it stops asking once the run has ended."""
    run = get_object_or_404(SyncRun, pk=pk)
    # Polled from the user page or the run page: "reload" leads back to the page the bar sits on.
    page = (request.htmx.current_url_abs_path if request.htmx else None) or ""
    user_page = reverse("users:detail", args=[run.user_id])
    progress = progress_of(run)
    response = render(request, "sync/_run_progress.html", {
        "progress": progress,
        "reload_url": user_page if page.startswith(user_page) else reverse("sync:run", args=[run.pk]),
    })
    if not progress["active"]:
        # The page around the bar (the user's runs and states, the run's counts) refreshes itself on this event.
        trigger_client_event(response, "run-finished", {"run": run.pk})
    return response


def last_test(connection: Connection | None) -> dict | None:
    """The connection's last test as the page shows it (`Connection.last_test_*`, kept by every test, whoever ran
    it and wherever), or None when it was never tested since its settings last changed."""
    if connection is None or connection.last_test_at is None:
        return None
    result = {"ok": bool(connection.last_test_ok), "detail": connection.last_test_detail,
              "at": connection.last_test_at}
    if connection.last_test_ok is None:
        result["in_use"] = False
    return result


def _connection_cards(forms_by_kind: dict | None = None, answered: dict | None = None) -> list[dict]:
    stored = {c.kind: c for c in Connection.objects.all()}
    cards = []
    for kind, label in Connection.Kind.choices:
        connection = stored.get(kind)
        form = (forms_by_kind or {}).get(kind) or connection_form(
            kind, instance=connection, initial={"kind": kind}, prefix=kind)
        # This request's test answer first: a test refused because another is under way, or of a kind not configured,
        # is kept nowhere else.
        result = (answered or {}).get(kind) or last_test(connection)
        tls, tls_concern = tls_summary(connection) if connection else ("", False)
        cards.append({"kind": kind, "label": label, "connection": connection, "form": form,
                      "result": result or None, "tls": tls, "tls_concern": tls_concern})
    return cards


@console_view
def connections(request):
    """The Salesforce org and the Exchange endpoint: shown to the console roles, changed by admins, tested by
    those who may test connections. Secrets are write-only."""
    forms_by_kind, answered, status = {}, {}, 200
    if request.method == "POST":
        kind = request.POST.get("kind")
        if kind not in Connection.Kind.values:
            return HttpResponseBadRequest("Unknown connection kind.")
        if "test" in request.POST:
            if not request.user.has_perm("users.test_connection"):
                raise PermissionDenied("Your role may not test connections.")
            try:
                # Kept on the connection too (for every later visit); shown from here with its time.
                answered[kind] = {**check_connection(kind), "at": timezone.now()}
            except ConnectionTestBusy as exc:
                answered[kind], status = {"ok": False, "busy": True, "detail": str(exc)}, 409
        else:
            if not request.user.has_perm("sync.change_connection"):
                raise PermissionDenied("Only admins change connections.")
            instance = Connection.objects.filter(kind=kind).first()
            form = connection_form(kind, request.POST, instance=instance, prefix=kind)
            if form.is_valid():
                form.save(actor=request.user)  # a change of the settings clears the last test (it was of the old ones)
                messages.success(request, f"{Connection.Kind(kind).label} connection saved.")
                return redirect("sync:connections")
            forms_by_kind[kind] = form
    return render(request, "sync/connections.html", {
        "cards": _connection_cards(forms_by_kind, answered),
        "routing": routing_summary(),
        "feeds": feeds_overview(),
        "may_change": request.user.has_perm("sync.change_connection"),
        "may_test": request.user.has_perm("users.test_connection"),
    }, status=status)


@console_view
def run_export(request):
    """The runs matching the runs page's filters, a date range, a configuration and an error code, as CSV; bad
    filters send the reader back to the dashboard's export form with what is wrong."""
    runs, errors = runs_csv.export_runs(request.GET)
    if errors:
        for name, problems in errors.items():
            messages.error(request, f"Nothing was exported: {name.replace('_', ' ')}: {' '.join(problems)}")
        return redirect(reverse("dashboard") + "#trends")
    response = StreamingHttpResponse(runs_csv.csv_lines(runs), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{runs_csv.filename(request.GET)}"'
    return response
