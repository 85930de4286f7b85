"""Console pages of the previews: a user's dry run, a configuration change's impact, and the page (or htmx partial)
that shows a preview's progress and then its result. Thin: sync.previews does the work."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from configurations.forms import ConfigurationForm
from configurations.models import OutlookConfiguration, SyncObject
from configurations.validation import ConfigurationInvalid
from sync import previews
from sync.models import Preview
from syncadmin.views import console_view
from users.models import SyncUser

OBJECT_LABELS = dict(SyncObject.choices)


def _require(request, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied("Your role does not allow this action.")


def _shown(request, preview: Preview, status: int = 200):
    """The preview as an htmx partial (it polls itself until done), or as its own page."""
    template = "sync/_preview.html" if request.htmx else "sync/preview.html"
    return render(request, template, _context(preview), status=status)


def _context(preview: Preview) -> dict:
    result = preview.result or {}
    objects = [{"name": name, "label": OBJECT_LABELS.get(name, name), **summary}
               for name, summary in (result.get("objects") or {}).items()]
    progress = preview.progress or {}
    total, done = progress.get("total") or 0, progress.get("done") or 0
    return {
        "preview": preview, "result": result, "objects": objects,
        "active": preview.state not in Preview.TERMINAL_STATES,
        "progress": {**progress, "percent": int(100 * done / total) if total else 0},
        "deletes": sum(o["delete"]["salesforce"] + o["delete"]["outlook"] for o in objects),
        "kept_unlinked": sum(o.get("unlink_kept", 0) for o in objects),
    }


@console_view
@require_POST
def user_dry_run(request, pk: int):
    """Ask for a dry run of the user's sync; show its progress, then its plan."""
    _require(request, "users.sync_now")
    user = get_object_or_404(SyncUser, pk=pk)
    try:
        preview = previews.request_dry_run(user, request.POST.getlist("objects") or None, actor=request.user)
    except previews.PreviewRefused as exc:
        messages.error(request, str(exc))
        return redirect("users:detail", pk=user.pk)
    if request.htmx:
        return _shown(request, preview, status=202)
    return redirect("sync:preview", pk=preview.pk)


@console_view
@require_GET
def preview_detail(request, pk: int):
    """A dry run or an impact preview: progress while a worker computes it, then the result."""
    preview = get_object_or_404(Preview.objects.select_related("user", "configuration", "requested_by"), pk=pk)
    return _shown(request, preview)


@console_view
@require_POST
def configuration_impact(request, pk: int):
    """Before saving: preview what the edited configuration (the form as posted), an assignment or unassignment of
    the selected users, or the configuration's deletion would do to the users' records."""
    _require(request, "configurations.change_outlookconfiguration")
    configuration = get_object_or_404(OutlookConfiguration, pk=pk)
    kind = request.POST.get("impact", "change")
    if kind == "change":
        form = ConfigurationForm.from_post(request.POST, configuration)
        ask: dict = {"change": form.values()}
        if request.POST.get("on_scope_exit"):  # the choice shown under an earlier preview: previewed as it would save
            ask["change"]["on_scope_exit"] = request.POST["on_scope_exit"]
    elif kind in ("assign", "unassign"):
        users = [str(u) for u in request.POST.getlist("users")]
        if not users:
            return _refused(request, configuration, f"Select at least one user to {kind}, then preview the impact.")
        ask = {kind: users}
    elif kind == "delete":
        ask = {"delete": True}
    else:
        return _refused(request, configuration, "Choose what to preview: a change, an assignment, an unassignment "
                                                "or the deletion.")
    try:
        preview = previews.request_impact(configuration, ask, actor=request.user)
    except ConfigurationInvalid as exc:
        if "on_scope_exit" in exc.errors:
            return _refused(request, configuration, " ".join(exc.errors["on_scope_exit"]))
        return _refused(request, configuration, "The form has errors, so its impact cannot be previewed; correct "
                                                "the fields marked in red first.")
    except previews.PreviewRefused as exc:
        return _refused(request, configuration, str(exc))
    if request.htmx:
        return _shown(request, preview, status=202)
    return redirect("sync:preview", pk=preview.pk)


def _refused(request, configuration: OutlookConfiguration, message: str):
    if request.htmx:  # swapped in where the preview would have been (htmx swaps only 2xx answers)
        return render(request, "sync/_preview_refused.html", {"message": message})
    messages.error(request, message)
    return redirect("configurations:detail", pk=configuration.pk)
