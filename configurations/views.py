"""Console pages for Outlook Configurations: list, create, edit, delete, and who they apply to.

Views stay thin: every change goes through ``configurations.services``; the rules live in
``configurations.validation``. Admins change things; support staff read the same pages without the controls.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from configurations import counts, services
from configurations.forms import DIRECTION_ARROWS, ConfigurationForm
from configurations.models import Direction, OutlookConfiguration, ProfileAssignment, SyncObject
from configurations.validation import ConfigurationInvalid
from syncadmin.roles import ADMIN, role_of
from syncadmin.views import console_view
from users.filters import filter_users
from users.models import SyncUser
from users.services import (
    VIA_USER,
    assign_users,
    find_user,
    unassign_users,
    with_assigned_configuration,
    with_effective_configuration,
)

SEARCH_RESULTS = 50
USERS_SHOWN = 200
# Assigning and unassigning come back to the page's users section (#assignment), scrolled past its top: their
# messages carry this tag and are shown in that section, where the user is, rather than at the top of the page.
ASSIGNMENT = "assignment"


def _is_admin(request) -> bool:
    return role_of(request.user) == ADMIN


def admin_only(view):
    """Changes are for admins; support staff read the pages but every change is refused here, on the server."""

    def wrapped(request, *args, **kwargs):
        if not _is_admin(request):
            raise PermissionDenied("Only administrators change configurations and assignments.")
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return console_view(wrapped)


def _prefetched():
    return OutlookConfiguration.objects.prefetch_related("data_settings", "data_sets", "profile_assignments")


def _user_counts() -> tuple[dict[int, int], dict[int, int]]:
    """Users per configuration: directly assigned, and through a profile (no direct assignment). Two queries."""
    direct = dict(
        SyncUser.objects.filter(configuration__isnull=False)
        .order_by()
        .values_list("configuration")
        .annotate(n=Count("pk"))
    )
    profile_configuration = ProfileAssignment.objects.filter(profile=OuterRef("profile")).values("configuration_id")
    via_profile = dict(
        SyncUser.objects.filter(configuration__isnull=True)
        .annotate(via=Subquery(profile_configuration[:1]))
        .filter(via__isnull=False)
        .order_by()
        .values_list("via")
        .annotate(n=Count("pk"))
    )
    return direct, via_profile


def _objects_at_a_glance(configuration: OutlookConfiguration) -> list[dict]:
    settings = {s.object: s for s in configuration.data_settings.all()}
    glance = []
    for sync_object in SyncObject:
        setting = settings.get(sync_object.value)
        direction = setting.direction if setting else Direction.NONE
        glance.append(
            {
                "label": sync_object.label,
                "arrow": DIRECTION_ARROWS[direction],
                "direction": Direction(direction).label,
                "syncs": direction != Direction.NONE,
            }
        )
    return glance


@console_view
def configuration_list(request):
    configurations = list(_prefetched().order_by("name", "pk"))
    direct, via_profile = _user_counts()
    rows = [
        {
            "configuration": c,
            "direct": direct.get(c.pk, 0),
            "via_profile": via_profile.get(c.pk, 0),
            "objects": _objects_at_a_glance(c),
            "profiles": [p.profile for p in c.profile_assignments.all()],
        }
        for c in configurations
    ]
    return render(request, "configurations/list.html", {"rows": rows, "may_change": _is_admin(request)})


def _render_form(request, form: ConfigurationForm, status: int = 200):
    template = "configurations/_form_body.html" if request.htmx else "configurations/form.html"
    # A choice for records leaving the scope, made under an impact preview, is shown again if the save failed.
    choice = request.POST.get("on_scope_exit") if request.method == "POST" else None
    return render(request, template, {"form": form, "on_scope_exit": choice}, status=status)


def _action(request) -> str:
    return request.POST.get("action", "")


def _save(request, configuration: OutlookConfiguration | None):
    form = ConfigurationForm.from_post(request.POST, configuration, action=_action(request))
    if _action(request):  # adding or removing a filter row: show the form again, save nothing
        form.set_errors({})
        return _render_form(request, form)
    try:
        if configuration is None:
            configuration = services.create_configuration(form.values(), actor=request.user)
            messages.success(request, f"Configuration “{configuration.name}” created.")
        else:
            on_scope_exit = request.POST.get("on_scope_exit") or None
            configuration = services.update_configuration(configuration, form.values(), actor=request.user,
                                                          on_scope_exit=on_scope_exit)
            kept = (" The Outlook copies of records leaving the scope are kept, unlinked, at the next sync."
                    if on_scope_exit == "keep" else "")
            messages.success(request, f"Configuration “{configuration.name}” saved.{kept}")
    except ConfigurationInvalid as exc:
        form.set_errors(exc.errors)
        return _render_form(request, form, status=400)
    return redirect("configurations:detail", pk=configuration.pk)


@admin_only
@require_http_methods(["GET", "POST"])
def configuration_create(request):
    if request.method == "POST":
        return _save(request, None)
    return _render_form(request, ConfigurationForm.initial())


@admin_only
@require_http_methods(["GET", "POST"])
def configuration_edit(request, pk: int):
    configuration = get_object_or_404(_prefetched(), pk=pk)
    if request.method == "POST":
        return _save(request, configuration)
    return _render_form(request, ConfigurationForm.initial(services.snapshot(configuration), configuration))


@admin_only
@require_POST
def configuration_validate(request, pk: int | None = None):
    """Live validation (htmx): the form re-rendered with the errors saving it would meet; saves nothing."""
    configuration = get_object_or_404(_prefetched(), pk=pk) if pk is not None else None
    form = ConfigurationForm.from_post(request.POST, configuration, action=_action(request))
    # A direction just chosen brings its required conflict behaviour rather than an error about the old one.
    trigger = request.headers.get("HX-Trigger", "")
    changed = next((o for o in SyncObject.values if trigger == f"id_{o}-direction"), None)
    if changed:
        form.objects[SyncObject.values.index(changed)].setting.pop("conflict_behavior", None)
    form.set_errors(services.check_configuration(form.values(drop_conflict_for=changed), configuration))
    return render(request, "configurations/_form_body.html", {"form": form})


def _assigned_users(configuration: OutlookConfiguration):
    """Users this configuration is assigned to, directly or through a profile (whether or not it is active)."""
    return (
        with_effective_configuration(with_assigned_configuration())
        .filter(assigned_configuration_id=configuration.pk)
        .order_by("name", "username")
    )


def _search(query: str):
    """Candidates for assignment: the users list's search (``users.filters``); a query it refuses finds nobody."""
    query = query.strip()
    if not query:
        return None
    found, errors = filter_users(with_effective_configuration(), {"search": query}, fields=("search",))
    if errors:
        return SyncUser.objects.none()
    return found.select_related("configuration").order_by("name", "username")[:SEARCH_RESULTS]


@console_view
def configuration_detail(request, pk: int):
    configuration = get_object_or_404(_prefetched(), pk=pk)
    assigned = _assigned_users(configuration)
    query = request.GET.get("q", "")
    results = _search(query) if _is_admin(request) else None
    context = {
        "configuration": configuration,
        "form": ConfigurationForm.initial(services.snapshot(configuration), configuration),
        "users": list(assigned[:USERS_SHOWN]),
        "user_total": assigned.count(),
        "users_shown": USERS_SHOWN,
        "query": query,
        "results": results,
        "via_user": VIA_USER,
        "may_change": _is_admin(request),
    }
    return render(request, "configurations/detail.html", context)


@admin_only
def configuration_search(request, pk: int):
    """The candidates for assignment (htmx), by name, username or e-mail address."""
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    configuration = get_object_or_404(OutlookConfiguration, pk=pk)
    query = request.GET.get("q", "")
    return render(
        request,
        "configurations/_search_results.html",
        {"configuration": configuration, "query": query, "results": _search(query), "via_user": VIA_USER},
    )


def _selected(request) -> list[int]:
    return [int(value) for value in request.POST.getlist("users") if value.isdigit()]


def _names(count: int) -> str:
    return f"{count} user" + ("" if count == 1 else "s")


@admin_only
@require_POST
def configuration_assign(request, pk: int):
    configuration = get_object_or_404(OutlookConfiguration, pk=pk)
    selected = _selected(request)
    if not selected:
        messages.warning(request, "Select at least one user to assign.", extra_tags=ASSIGNMENT)
    else:
        result = assign_users(configuration, selected, actor=request.user)
        parts = [f"{_names(len(result.assigned))} assigned"]
        if result.moved:
            parts.append(f"{_names(len(result.moved))} moved here from another configuration")
        if result.unchanged:
            parts.append(f"{_names(len(result.unchanged))} already assigned")
        if result.unknown:
            parts.append(f"{_names(len(result.unknown))} not found")
        messages.success(request, "; ".join(parts) + ".", extra_tags=ASSIGNMENT)
    return redirect(reverse("configurations:detail", args=[configuration.pk]) + "#assignment")


@admin_only
@require_POST
def configuration_unassign(request, pk: int):
    configuration = get_object_or_404(OutlookConfiguration, pk=pk)
    selected = _selected(request)
    if not selected:
        messages.warning(request, "Select at least one directly assigned user to unassign.", extra_tags=ASSIGNMENT)
    else:
        result = unassign_users(configuration, selected, actor=request.user)
        text = f"{_names(len(result.unassigned))} unassigned."
        if result.unchanged:
            text += f" {_names(len(result.unchanged))} not directly assigned here (a profile assignment is changed "
            text += "through the configuration's profiles)."
        messages.success(request, text, extra_tags=ASSIGNMENT)
    return redirect(reverse("configurations:detail", args=[configuration.pk]) + "#assignment")


@console_view
@require_POST
def configuration_preview(request, pk: int):
    """The record-count preview (htmx, or a plain form post): what each data setting would read for one user, on
    the side its direction reads (``configurations.counts``)."""
    configuration = get_object_or_404(_prefetched(), pk=pk)
    identifier = request.POST.get("user", "").strip()
    context = {"configuration": configuration, "identifier": identifier}
    user = find_user(identifier) if identifier else None
    if user is None:
        context["problem"] = (
            f"No synced user matches “{identifier}”." if identifier else "Enter a user's username or e-mail address."
        )
    else:
        context["preview_user"] = user
        try:
            context["answers"] = counts.record_counts(configuration, user)
        except counts.CountsUnavailable as exc:
            context["problem"] = str(exc)
    if request.htmx:
        return render(request, "configurations/_preview.html", context)
    return render(request, "configurations/preview.html", context)


@admin_only
@require_http_methods(["GET", "POST"])
def configuration_delete(request, pk: int):
    configuration = get_object_or_404(_prefetched(), pk=pk)
    if request.method == "POST":
        name = configuration.name
        services.delete_configuration(configuration, actor=request.user)
        messages.success(request, f"Configuration “{name}” deleted.")
        return redirect("configurations:list")
    profiles = [p.profile for p in configuration.profile_assignments.all()]
    via_profile = SyncUser.objects.filter(configuration__isnull=True, profile__in=profiles).count()
    fallbacks, stranded = _fallbacks(configuration)
    return render(
        request,
        "configurations/delete.html",
        {
            "configuration": configuration,
            "fallbacks": fallbacks,
            "stranded": stranded,
            "direct": sum(group["count"] for group in fallbacks) + stranded["count"],
            "via_profile": via_profile,
            "profiles": profiles,
        },
    )


def _fallbacks(configuration: OutlookConfiguration) -> tuple[list[dict], dict]:
    """Where the directly assigned users of ``configuration`` go if it is deleted: to their profile's configuration
    when another configuration has their profile (one group per such configuration, with its profiles and user
    count), else nowhere (``stranded``). Users who have it through a profile always lose it: the profile's
    assignment is deleted with the configuration. Two queries."""
    by_profile = dict(
        SyncUser.objects.filter(configuration=configuration).order_by().values_list("profile").annotate(n=Count("pk"))
    )
    elsewhere = {
        assignment.profile: assignment.configuration
        for assignment in ProfileAssignment.objects.filter(profile__in=by_profile)
        .exclude(configuration=configuration)
        .select_related("configuration")
    }
    groups: dict[int, dict] = {}
    stranded: dict = {"count": 0, "profiles": []}
    for profile, count in sorted(by_profile.items()):
        target = elsewhere.get(profile)
        if target is None:
            stranded["count"] += count
            stranded["profiles"].append(profile or "no profile")
            continue
        group = groups.setdefault(target.pk, {"configuration": target, "count": 0, "profiles": []})
        group["count"] += count
        group["profiles"].append(profile)
    return sorted(groups.values(), key=lambda group: group["configuration"].name), stranded
