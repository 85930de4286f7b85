"""Sync runs as CSV, for a spreadsheet or a report: the runs page's filters (user, object, state, trigger) plus a
date range, a configuration and an error code. Read-only; streamed, so a month of runs never sits in memory."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime, time, timedelta

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from configurations.models import OutlookConfiguration
from sync.filters import filter_runs
from sync.models import SyncRun
from users.services import with_effective_configuration

NOT_ASSIGNED = "none"
MAX_DAYS = 366
COLUMNS = [
    "run", "user", "configuration", "object", "trigger", "state", "full", "queued_at", "started_at", "finished_at",
    "duration_seconds", "error_code", "error_end", "error_message",
    "salesforce_created", "salesforce_updated", "salesforce_deleted",
    "outlook_created", "outlook_updated", "outlook_deleted",
    "salesforce_api_calls", "exchange_api_calls", "exchange_protocol",
]
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class RunExportForm(forms.Form):
    since = forms.DateField(required=False, label="From", help_text="First day (YYYY-MM-DD), the server's time zone.",
                            error_messages={"invalid": "Enter the first day as YYYY-MM-DD."})
    until = forms.DateField(required=False, label="To", help_text="Last day, included.",
                            error_messages={"invalid": "Enter the last day as YYYY-MM-DD."})
    configuration = forms.CharField(required=False, max_length=20, label="Configuration",
                                    help_text="Runs of the users this configuration applies to now; 'none' for "
                                              "users with none.")
    error_code = forms.CharField(required=False, max_length=100, label="Error code")

    def clean_configuration(self) -> int | str | None:
        value = self.cleaned_data["configuration"].strip()
        if not value:
            return None
        if value == NOT_ASSIGNED:
            return value
        if not value.isdigit() or not OutlookConfiguration.objects.filter(pk=int(value)).exists():
            raise forms.ValidationError(f"Configuration {value!r} does not exist: choose one from the list, or "
                                        f"{NOT_ASSIGNED!r} for users with none.")
        return int(value)

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            self.add_error("until", "The last day comes before the first: swap them.")
        elif since and until and (until - since).days >= MAX_DAYS:
            self.add_error("until", f"At most {MAX_DAYS} days at a time: export a year, then the next.")
        return data


def export_runs(params) -> tuple[QuerySet | None, dict[str, list[str]]]:
    """The runs to export for the query parameters, oldest first, or None and the errors by parameter."""
    runs, run_form = filter_runs(SyncRun.objects.select_related("user"), params)
    form = RunExportForm(params)
    errors = {**(run_form.errors if run_form.is_bound and not run_form.is_valid() else {}),
              **(form.errors if not form.is_valid() else {})}
    if errors:
        return None, {name: list(messages) for name, messages in errors.items()}
    data = form.cleaned_data
    zone = timezone.get_current_timezone()
    if data.get("since"):
        runs = runs.filter(created_at__gte=datetime.combine(data["since"], time.min, zone))
    if data.get("until"):
        runs = runs.filter(created_at__lt=datetime.combine(data["until"] + timedelta(days=1), time.min, zone))
    if data.get("error_code", "").strip():
        runs = runs.filter(error_code=data["error_code"].strip())
    configuration = data.get("configuration")
    if configuration is not None:
        users = with_effective_configuration()
        users = (users.filter(effective_configuration_id__isnull=True) if configuration == NOT_ASSIGNED
                 else users.filter(effective_configuration_id=configuration))
        runs = runs.filter(user__in=users.values("pk"))
    return runs.order_by("created_at", "pk"), {}


def _cell(value) -> str:
    """A text cell a spreadsheet will not read as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def _when(value: datetime | None) -> str:
    return timezone.localtime(value).isoformat() if value else ""


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(runs: QuerySet) -> Iterator[str]:
    """The header, then one line per run (the configuration column: the one applying to the user now)."""
    names = dict(with_effective_configuration().values_list("pk", "effective_configuration_name"))
    writer = csv.writer(_Echo(), lineterminator="\n")
    yield writer.writerow(COLUMNS)
    for run in runs.iterator(chunk_size=2000):
        counts, calls = run.counts or {}, run.api_calls or {}
        duration = (run.finished_at - run.started_at).total_seconds() if run.finished_at and run.started_at else ""
        yield writer.writerow([
            run.pk, _cell(run.user.username), _cell(names.get(run.user_id) or ""), run.object, run.trigger,
            run.state, "yes" if run.full else "no", _when(run.created_at), _when(run.started_at),
            _when(run.finished_at), round(duration, 3) if duration != "" else "", _cell(run.error_code),
            run.error_end, _cell(run.error_message),
            *[(counts.get(side) or {}).get(kind, 0) for side in ("salesforce", "outlook")
              for kind in ("create", "update", "delete")],
            calls.get("salesforce", 0), calls.get("exchange", 0), run.exchange_protocol,
        ])


def filename(params) -> str:
    stamp = "-".join(filter(None, [params.get("since", ""), params.get("until", "")])) or "all"
    return f"sync-runs-{''.join(c for c in stamp if c.isalnum() or c == '-')[:40]}.csv"
