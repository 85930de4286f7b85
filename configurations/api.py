"""REST API for Outlook Configurations, who they are assigned to, and their audit trail; thin: the services do the
work."""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action, api_view, parser_classes, permission_classes
from rest_framework.response import Response

from audit.api import ACTION_PARAMETER, AuditEntrySerializer, filter_entries
from audit.models import AuditEntry
from configurations import counts, csv_import, services, soql
from configurations.models import (
    ConflictBehavior,
    ContactScope,
    Direction,
    EventScope,
    OutlookConfiguration,
    SyncMode,
)
from configurations.validation import MAX_DAYS, MAX_RECORD_LIMIT, SYNC_MODE_INVALID, ConfigurationInvalid
from sync import previews
from sync.preview_api import QueuedPreview, queued
from syncadmin.api_fields import BooleanField, CharField, NameField, TextField
from syncadmin.permissions import permission_required
from users import services as user_services
from users.api import SEARCH_PARAMETER, STATE_PARAMETER, SyncUserSerializer, filter_users_or_400, synced_users


class StrictSerializer(serializers.Serializer):
    """Unknown keys are errors, not silently dropped (a typo in an option must not look saved)."""

    refuses_unknown_fields = True  # the schema says so: additionalProperties false (syncadmin.openapi)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(str(k) for k in set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
        return super().to_internal_value(data)


def _direction():
    return serializers.ChoiceField(choices=Direction.choices, required=False)


def _conflict():
    return serializers.ChoiceField(choices=ConflictBehavior.choices, required=False)


def _propagate_deletions():
    return BooleanField(
        required=False,
        help_text="A deletion on one side deletes the copy on the other. A choice only with both (and for events "
        "with outlook_to_salesforce): elsewhere deletions always follow the source side, and false is refused.",
    )


def _merge_fields():
    return BooleanField(
        required=False,
        help_text="Merge a record changed on both sides field by field: a field changed on one side only is copied "
        "over, fields changed on different sides are both kept, and the conflict behaviour decides only a field "
        "changed on both sides. Both ways only: with another direction, true is refused.",
    )


def _excluded():
    return serializers.ListField(
        child=CharField(max_length=254), required=False, max_length=1000,
        help_text="E-mail addresses and domains that never sync.",
    )


class ContactsSettingSerializer(StrictSerializer):
    direction = _direction()
    conflict_behavior = _conflict()
    folder = CharField(max_length=255, allow_blank=True, required=False, trim_whitespace=False)
    propagate_deletions = _propagate_deletions()
    excluded_addresses = _excluded()
    merge_fields = _merge_fields()


class EventsSettingSerializer(StrictSerializer):
    direction = _direction()
    conflict_behavior = _conflict()
    sync_private_events = BooleanField(required=False)
    event_scope = serializers.ChoiceField(choices=EventScope.choices, required=False)
    event_category = NameField(what="category", max_length=255, allow_blank=True, required=False)
    propagate_deletions = _propagate_deletions()
    auto_relate = BooleanField(
        required=False,
        help_text="Relate each event written to Salesforce to the contact (or the one lead) among its attendees. "
        "Only outlook_to_salesforce and both write events to Salesforce: with salesforce_to_outlook, true is refused.",
    )
    update_organized_meetings = BooleanField(
        required=False,
        help_text="Write Salesforce's changes to meetings the user organizes (events with attendees) to Outlook. "
        "Updating a meeting you organize sends the attendees an update from Exchange, so it is off by default: off, "
        "such a meeting is left as it is and each run says so for it. Only salesforce_to_outlook and both write "
        "events to Outlook: with outlook_to_salesforce, true is refused.",
    )
    excluded_addresses = _excluded()
    merge_fields = _merge_fields()


class TasksSettingSerializer(StrictSerializer):
    direction = _direction()
    conflict_behavior = _conflict()
    propagate_deletions = _propagate_deletions()
    merge_fields = _merge_fields()


class DataSettingsSerializer(StrictSerializer):
    contacts = ContactsSettingSerializer(required=False)
    events = EventsSettingSerializer(required=False)
    tasks = TasksSettingSerializer(required=False)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "string"},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "number"}]}},
        ],
        "nullable": True,
    }
)
class FilterValueField(serializers.JSONField):
    pass


class FilterSerializer(StrictSerializer):
    field = CharField(
        max_length=100,
        help_text="A field of the object's allow-list: "
        + "; ".join(f"{o}: {', '.join(sorted(fields))}" for o, fields in soql.ALLOWED_FIELDS.items()),
    )
    op = serializers.ChoiceField(choices=soql.OPERATORS)
    value = FilterValueField(required=False, allow_null=True)


def _filters():
    return FilterSerializer(many=True, required=False, max_length=soql.MAX_FILTERS)


def _days(help_text: str):
    return serializers.IntegerField(min_value=0, max_value=MAX_DAYS, required=False, help_text=help_text)


def _limit():
    return serializers.IntegerField(min_value=1, max_value=MAX_RECORD_LIMIT, required=False, allow_null=True)


class ContactsDataSetSerializer(StrictSerializer):
    scope = serializers.ChoiceField(choices=ContactScope.choices, required=False)
    filters = _filters()
    record_limit = _limit()


class EventsDataSetSerializer(StrictSerializer):
    days_back = _days("From this many days back (by end date).")
    days_ahead = _days("To this many days ahead (by start date).")
    filters = _filters()
    record_limit = _limit()


class TasksDataSetSerializer(StrictSerializer):
    closed_days_back = _days("Closed tasks due in the last this many days (open tasks always sync).")
    filters = _filters()
    record_limit = _limit()


class DataSetsSerializer(StrictSerializer):
    contacts = ContactsDataSetSerializer(required=False)
    events = EventsDataSetSerializer(required=False)
    tasks = TasksDataSetSerializer(required=False)


class ConfigurationSerializer(StrictSerializer):
    id = serializers.IntegerField(read_only=True)
    name = NameField(max_length=120)
    description = TextField(what="description", allow_blank=True, required=False, max_length=10000)
    active = BooleanField(required=False)
    sync_mode = serializers.ChoiceField(
        choices=SyncMode.choices, required=False,
        error_messages={"invalid_choice": SYNC_MODE_INVALID, "null": SYNC_MODE_INVALID},
        help_text='"near_real_time" (the default): the change feeds trigger a sync within seconds of a change, '
                  'with a safety-net sync every SYNC_SWEEP_HOURS hours; "schedule": every sync_interval_minutes.')
    sync_interval_minutes = serializers.IntegerField(
        min_value=1, max_value=7 * 24 * 60, required=False,
        help_text="Minutes between syncs on a schedule, and in near real time whenever a change feed the "
                  "configuration needs is down.")
    profiles = serializers.ListField(child=NameField(what="profile name", max_length=255), required=False,
                                     max_length=1000)
    data_settings = DataSettingsSerializer(required=False)
    data_sets = DataSetsSerializer(required=False)
    on_scope_exit = serializers.ChoiceField(
        choices=list(services.ON_SCOPE_EXIT_CHOICES), required=False, write_only=True,
        error_messages={"invalid_choice": services.ON_SCOPE_EXIT_INVALID, "null": services.ON_SCOPE_EXIT_INVALID},
        help_text="PATCH only: what happens to the Outlook copies of records this change takes out of scope. "
                  '"delete" (what happens when left out) deletes them at the next sync; "keep" leaves them in '
                  "Outlook, unlinked: never updated, deleted or sent to Salesforce, and linked again (no duplicate) "
                  "if their record comes back into scope. Leaving it out keeps a choice an earlier change made that "
                  "no sync has applied yet.")
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    def to_representation(self, instance):
        return {
            "id": instance.pk,
            **services.snapshot(instance),
            "created_at": serializers.DateTimeField().to_representation(instance.created_at),
            "updated_at": serializers.DateTimeField().to_representation(instance.updated_at),
        }


class UserIdentifierField(serializers.Field):
    """A synced user's id (number), Salesforce id, username or e-mail address."""

    default_error_messages = {"invalid": "Enter a user id, Salesforce id, username or e-mail address."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            return data
        if isinstance(data, str) and 0 < len(data) <= 254 and "\x00" not in data:
            return data
        self.fail("invalid")

    def to_representation(self, value):
        return value


extend_schema_field({"oneOf": [
    {"type": "integer"}, {"type": "string", "minLength": 1, "maxLength": 254, "pattern": "^[^\\u0000]*$"},
]})(UserIdentifierField)


class UserListSerializer(serializers.Serializer):
    users = serializers.ListField(child=UserIdentifierField(), min_length=1, max_length=50_000)


def _identifiers(help_text: str):
    """A list of users as the request named them. A new field each time: one field object under several names
    is bound to the last name only, and the schema then showed one property for four."""
    return serializers.ListField(child=UserIdentifierField(), help_text=help_text)


AssignmentResultSerializer = inline_serializer(
    "AssignmentResult",
    {
        "assigned": _identifiers("Users now directly assigned here who had no direct assignment before."),
        "moved": _identifiers("Users moved here from their direct assignment to another configuration."),
        "unchanged": _identifiers("Users already directly assigned here: nothing changed for them."),
        "unknown": _identifiers("Identifiers that match no synced user: nobody was assigned for them."),
    },
)
UnassignmentResultSerializer = inline_serializer(
    "UnassignmentResult",
    {
        "unassigned": _identifiers("Users whose direct assignment here was removed."),
        "unchanged": _identifiers("Users not directly assigned here (a profile assignment changes through the "
                                  "configuration's profiles): nothing changed for them."),
        "unknown": _identifiers("Identifiers that match no synced user."),
    },
)


def _invalid(exc: ConfigurationInvalid):
    return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)


_DETAIL = inline_serializer("RecordCountsProblem", {"detail": serializers.CharField()})
_USER_REFUSED = inline_serializer("RecordCountsUserRefused", {"user": serializers.ListField(
    child=serializers.CharField(), help_text="Why the user named in ?user= cannot be counted for.")})


class SideCountSerializer(serializers.Serializer):
    side = serializers.ChoiceField(choices=["salesforce", "outlook"])
    where = serializers.CharField(help_text="What was counted, in words.")
    count = serializers.IntegerField(allow_null=True, help_text="Records read (after the record limit).")
    matching = serializers.IntegerField(allow_null=True, help_text="Records matching before the record limit.")
    limited = serializers.BooleanField()
    note = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True, help_text="Why this end could not be counted, in words.")


class ObjectCountSerializer(serializers.Serializer):
    object = serializers.CharField()
    label = serializers.CharField()
    direction = serializers.CharField()
    direction_label = serializers.CharField()
    reads = SideCountSerializer(many=True)


class RecordCountsSerializer(serializers.Serializer):
    user = serializers.IntegerField(help_text="The synced user counted for.")
    objects = ObjectCountSerializer(many=True)


ImpactRequestSerializer = inline_serializer("ImpactRequest", {
    "assign": serializers.ListField(child=serializers.CharField(), required=False,
                                    help_text="Users to assign (or send a PATCH body of the configuration)."),
    "unassign": serializers.ListField(child=serializers.CharField(), required=False),
    "delete": serializers.BooleanField(required=False),
})


class ConfigurationViewSet(viewsets.ModelViewSet):
    """Outlook Configurations with their data settings and data sets (keyed by object) and profiles."""

    serializer_class = ConfigurationSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    queryset = OutlookConfiguration.objects.prefetch_related(
        "data_settings", "data_sets", Prefetch("profile_assignments")
    ).order_by("name", "pk")

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        values.pop("on_scope_exit", None)  # a new configuration takes nothing out of scope
        try:
            configuration = services.create_configuration(values, actor=request.user)
        except ConfigurationInvalid as exc:
            return _invalid(exc)
        return Response(self.get_serializer(configuration).data, status=status.HTTP_201_CREATED)

    def partial_update(self, request, *args, **kwargs):
        configuration = self.get_object()
        serializer = self.get_serializer(configuration, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        on_scope_exit = values.pop("on_scope_exit", None)
        try:
            configuration = services.update_configuration(configuration, values, actor=request.user,
                                                          on_scope_exit=on_scope_exit)
        except ConfigurationInvalid as exc:
            return _invalid(exc)
        return Response(self.get_serializer(configuration).data)

    def destroy(self, request, *args, **kwargs):
        services.delete_configuration(self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=UserListSerializer, responses=AssignmentResultSerializer)
    @action(detail=True, methods=["post"], permission_classes=[permission_required("users.change_syncuser")])
    def assign(self, request, pk=None):
        """Assign users directly (ids, Salesforce ids, usernames, e-mail addresses); idempotent."""
        configuration = self.get_object()
        serializer = UserListSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = user_services.assign_users(configuration, serializer.validated_data["users"], actor=request.user)
        return Response(result.as_dict())

    @extend_schema(request=UserListSerializer, responses=UnassignmentResultSerializer)
    @action(detail=True, methods=["post"], permission_classes=[permission_required("users.change_syncuser")])
    def unassign(self, request, pk=None):
        """Remove direct assignments to this configuration."""
        configuration = self.get_object()
        serializer = UserListSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = user_services.unassign_users(configuration, serializer.validated_data["users"], actor=request.user)
        return Response(result.as_dict())

    @extend_schema(request=ImpactRequestSerializer, responses={202: QueuedPreview, 400: dict}, tags=["configurations"])
    @action(detail=True, methods=["post"],
            permission_classes=[permission_required("configurations.change_outlookconfiguration")])
    def impact(self, request, pk=None):
        """Before saving: what a change (a PATCH body), an assignment (`{"assign": [users]}`), an unassignment
        (`{"unassign": [users]}`) or the deletion (`{"delete": true}`) would do to the affected users' records,
        per object and side, with examples by name. A worker reads both ends (at most 20 users: `sampled` says
        so); nothing is written. Read the result at /api/v1/previews/{id}/."""
        configuration = self.get_object()
        data = request.data if isinstance(request.data, dict) else {}
        keys = set(data) & {"assign", "unassign", "delete"}
        if keys and set(data) - keys:
            return Response({"non_field_errors": ["Preview one thing at a time: a change of the configuration, or "
                                                  "\"assign\", \"unassign\" or \"delete\" alone."]},
                            status=status.HTTP_400_BAD_REQUEST)
        if keys:
            ask = {key: data[key] for key in keys}
        else:
            serializer = self.get_serializer(configuration, data=data, partial=True)
            serializer.is_valid(raise_exception=True)
            ask = {"change": serializer.validated_data}
        try:
            preview = previews.request_impact(configuration, ask, actor=request.user)
        except ConfigurationInvalid as exc:
            return _invalid(exc)
        except previews.PreviewRefused as exc:
            return Response({"non_field_errors": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        return queued(preview)

    @extend_schema(responses=SyncUserSerializer(many=True), parameters=[SEARCH_PARAMETER, STATE_PARAMETER])
    @action(
        detail=True,
        methods=["get"],
        permission_classes=[permission_required("configurations.view_outlookconfiguration", "users.view_syncuser")],
    )
    def users(self, request, pk=None):
        """The users assigned to this configuration, directly or through a profile (``via``), even while it is
        inactive; each user's ``effective_configuration`` says whether it applies now."""
        configuration = self.get_object()
        queryset = user_services.with_assigned_configuration(synced_users()).filter(
            assigned_configuration_id=configuration.pk
        )
        queryset = filter_users_or_400(queryset, request.query_params, fields=("search", "state"))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(SyncUserSerializer(page, many=True).data)

    @extend_schema(
        parameters=[OpenApiParameter("user", str, required=True, description=(
            "The synced user to count for: id, Salesforce user id, username or e-mail address."))],
        responses={200: RecordCountsSerializer, 400: _USER_REFUSED, 503: _DETAIL},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="record-counts",
        permission_classes=[permission_required("configurations.view_outlookconfiguration", "users.view_syncuser")],
    )
    def record_counts(self, request, pk=None):
        """How many records each object this configuration syncs would read for one user, counted on the side its
        direction reads (Salesforce records as the user, Outlook items in their mailbox); nothing is written."""
        configuration = self.get_object()
        identifier = request.query_params.get("user", "").strip()
        if not identifier:
            return Response({"user": ["Name the synced user to count for (?user=<username or e-mail address>)."]},
                            status=status.HTTP_400_BAD_REQUEST)
        user = user_services.find_user(identifier)
        if user is None:
            return Response({"user": [f"No synced user matches “{identifier[:100]}”."]},
                            status=status.HTTP_400_BAD_REQUEST)
        try:
            answers = counts.record_counts(configuration, user)
        except counts.CountsUnavailable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE,
                            headers={"Retry-After": "60"})
        return Response({"user": user.pk, "objects": [a.as_dict() for a in answers]})

    @extend_schema(
        responses=AuditEntrySerializer(many=True),
        parameters=[ACTION_PARAMETER],
    )
    @action(
        detail=True,
        methods=["get"],
        permission_classes=[permission_required("audit.view_auditentry")],
    )
    def audit(self, request, pk=None):
        """This configuration's audit trail, newest first."""
        configuration = self.get_object()
        wanted = {"action": request.query_params["action"]} if "action" in request.query_params else {}
        entries = filter_entries(AuditEntry.objects.filter(configuration_id=configuration.pk), wanted)
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(AuditEntrySerializer(page, many=True).data)

    def get_serializer_class(self):
        if self.action == "users":
            return SyncUserSerializer
        if self.action == "audit":
            return AuditEntrySerializer
        if self.action in ("assign", "unassign"):
            return UserListSerializer
        return super().get_serializer_class()



# ---- assignments as CSV --------------------------------------------------------------------------------------------


@extend_schema(
    responses={(200, "text/csv"): {"type": "string", "description": "user,configuration lines, a header first"}},
    tags=["configurations"],
)
@api_view(["GET"])
@permission_classes([permission_required("configurations.view_outlookconfiguration", "users.view_syncuser")])
def users_csv(request, pk: int):
    """The users directly assigned to this configuration, as `user,configuration` CSV lines (what
    `POST /api/v1/assignments/import/` reads back)."""
    configuration = get_object_or_404(OutlookConfiguration, pk=pk)
    response = HttpResponse(csv_import.export_csv(configuration), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="configuration-{configuration.pk}-users.csv"'
    return response


class ImportLineSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    result = serializers.ChoiceField(choices=["assigned", "moved", "unchanged", "refused"])
    detail = serializers.CharField()


@extend_schema(
    request={"text/csv": {"type": "string", "description": "user,configuration lines (an optional header)"}},
    responses={200: inline_serializer("ImportedAssignments", {"lines": ImportLineSerializer(many=True)}),
               400: _DETAIL, 415: _DETAIL},
    tags=["configurations"],
)
@api_view(["POST"])
@parser_classes([csv_import.CSVParser])
@permission_classes([permission_required("users.change_syncuser")])
def import_assignments(request):
    """Assign users from `user,configuration` CSV lines (user: id, Salesforce id, username or e-mail address;
    configuration: name or id); answers each line's result: assigned, moved, unchanged, or refused with why."""
    data = request.data if isinstance(request.data, str) else ""
    try:
        lines = csv_import.import_assignments(data, actor=request.user)
    except csv_import.ImportInvalid as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    return Response({"lines": [line.as_dict() for line in lines]})
