"""REST API for synced users: list (search, filter by configuration and state), detail, add by hand; and the
user operations (sync now, reset, test connection, import)."""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.response import Response

from configurations.models import SyncObject
from sync import explorer
from sync.api import Check, TestBusy
from sync.connections import ConnectionTestBusy
from sync.connectors.base import ConnectorError, TransientError
from sync.leases import SyncUnavailable
from sync.queue import QueueUnavailable
from sync.routing import exchange_connections, mailbox_route
from syncadmin.api_fields import BooleanField, CharField, EmailField, NameField
from syncadmin.permissions import permission_required
from users import operations, services
from users.filters import FILTERS, MAX_SEARCH, filter_users
from users.models import ExchangeRoute, SyncState, SyncUser, UserObjectState


def synced_users():
    """SyncUsers with their effective configuration and object states: a fixed number of queries for any page."""
    return services.with_effective_configuration().prefetch_related(
        Prefetch("object_states", queryset=UserObjectState.objects.order_by("object"))
    ).order_by("username", "pk")


EffectiveConfigurationSerializer = inline_serializer(
    "EffectiveConfiguration",
    {
        "id": serializers.IntegerField(),
        "name": serializers.CharField(),
        "via": serializers.ChoiceField(choices=[services.VIA_USER, services.VIA_PROFILE]),
    },
    allow_null=True,
)


class ObjectErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


class ObjectProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField(allow_null=True)


class ObjectStateSerializer(serializers.Serializer):
    """Documentation of one object's sync state (the data comes from ``object_state_data``)."""

    state = serializers.ChoiceField(choices=SyncState.choices)
    last_run_at = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    next_due_at = serializers.DateTimeField(allow_null=True)
    consecutive_failures = serializers.IntegerField()
    last_error = ObjectErrorSerializer(allow_null=True)
    progress = ObjectProgressSerializer(allow_null=True, help_text="While a sync runs.")


class ObjectStatesSerializer(serializers.Serializer):
    contacts = ObjectStateSerializer()
    events = ObjectStateSerializer()
    tasks = ObjectStateSerializer()


_datetime = serializers.DateTimeField()


def object_state_data(state: UserObjectState | None) -> dict:
    if state is None:
        state = UserObjectState()
    running = state.state in (SyncState.INITIAL_SYNC, SyncState.SYNCING)
    return {
        "state": state.state,
        "last_run_at": _datetime.to_representation(state.last_run_at) if state.last_run_at else None,
        "last_success_at": _datetime.to_representation(state.last_success_at) if state.last_success_at else None,
        "next_due_at": _datetime.to_representation(state.next_due_at) if state.next_due_at else None,
        "consecutive_failures": state.consecutive_failures,
        "last_error": {"code": state.last_error_code, "message": state.last_error_message}
        if state.last_error_code or state.last_error_message
        else None,
        "progress": {"done": state.progress_done, "total": state.progress_total} if running else None,
    }


@extend_schema_field(ObjectStatesSerializer)
class ObjectStatesField(serializers.Field):
    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, user):
        states = {s.object: s for s in user.object_states.all()}
        return {o: object_state_data(states.get(o)) for o in SyncObject.values}


ExchangeEndpointSerializer = inline_serializer(
    "ExchangeEndpoint",
    {
        "protocol": serializers.ChoiceField(choices=["ews", "graph"]),
        "via": serializers.ChoiceField(choices=["user", "domain", "connection", "default"]),
        "detail": serializers.CharField(),
    },
)


class SyncUserSerializer(serializers.ModelSerializer):
    configuration = serializers.IntegerField(
        source="configuration_id", read_only=True, allow_null=True, help_text="The direct assignment, if any."
    )
    effective_configuration = serializers.SerializerMethodField()
    exchange_endpoint = serializers.SerializerMethodField(
        help_text="The Exchange connection serving the mailbox now, and why."
    )
    objects = ObjectStatesField()

    class Meta:
        model = SyncUser
        fields = [
            "id", "salesforce_id", "username", "email", "name", "profile", "time_zone", "active", "configuration",
            "effective_configuration", "exchange_route", "exchange_endpoint", "objects", "created_at", "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(EffectiveConfigurationSerializer)
    def get_effective_configuration(self, user):
        return services.effective_configuration_of_row(user)

    @extend_schema_field(ExchangeEndpointSerializer)
    def get_exchange_endpoint(self, user):
        # One query for the connections per response, however many users it lists.
        if "exchange_connections" not in self.context:
            self.context["exchange_connections"] = exchange_connections()
        route = mailbox_route(user, self.context["exchange_connections"])
        return {"protocol": route.protocol, "via": route.via, "detail": route.detail}


class SyncUserUpdateSerializer(serializers.Serializer):
    refuses_unknown_fields = True  # partial_update answers 400 for any other field (syncadmin.openapi)

    exchange_route = serializers.ChoiceField(
        choices=ExchangeRoute.choices, allow_blank=True,
        help_text="Force the mailbox to EWS (`ews`) or Graph (`graph`); blank follows the connections' routing.",
    )


# The shape of a Salesforce user id (the service checks the 18-character form's checksum and that it is new).
@extend_schema_field({"type": "string", "pattern": "^005[0-9A-Za-z]{12}([0-9A-Za-z]{3})?$"})
class SalesforceUserIdField(CharField):
    pass


class SyncUserCreateSerializer(serializers.Serializer):
    salesforce_id = SalesforceUserIdField(max_length=18, help_text="15- or 18-character id starting with 005.")
    username = NameField(what="username", max_length=255)
    email = EmailField(max_length=254)
    name = NameField(max_length=255, allow_blank=True, required=False)
    profile = NameField(what="profile name", max_length=255, allow_blank=True, required=False)
    time_zone = CharField(max_length=64, allow_blank=True, required=False,
                          help_text="IANA time zone name (Salesforce's TimeZoneSidKey, e.g. Europe/Paris); blank: UTC.")
    active = BooleanField(required=False, default=True)


def filter_users_or_400(queryset, params, fields=FILTERS):
    """``users.filters.filter_users`` for the API: a bad parameter is a 400 naming it."""
    queryset, errors = filter_users(queryset, params, fields)
    if errors:
        raise serializers.ValidationError(errors)
    return queryset


SEARCH_PARAMETER = OpenApiParameter(
    "search", {"type": "string", "maxLength": MAX_SEARCH},
    description="Part of the username, e-mail, name or Salesforce id.",
)
EXCHANGE_PARAMETER = OpenApiParameter(
    "exchange", OpenApiTypes.STR, enum=["ews", "graph"], description="Users whose mailbox this protocol serves."
)
STATE_PARAMETER = OpenApiParameter(
    "state", OpenApiTypes.STR, enum=SyncState.values, description="Users with any object in this state."
)
# What users.filters accepts, less what it forgives (surrounding spaces, leading zeros): 'none', or an id.
CONFIGURATION_PARAMETER = OpenApiParameter(
    "configuration", {"type": "string", "pattern": "^(none|[1-9][0-9]{0,17})$"},
    description="Effective configuration id, or 'none' for unassigned.",
)


RECORD_OBJECT_PARAMETER = OpenApiParameter("object", str, enum=SyncObject.values, required=True,
                                           description="The object to look in.")
RECORD_Q_PARAMETER = OpenApiParameter("q", str, description="An e-mail address, a name, a subject, a Salesforce id "
                                      "or an Outlook item id.")
RECORD_SALESFORCE_ID_PARAMETER = OpenApiParameter("salesforce_id", str, description="The record's Salesforce id.")
RECORD_OUTLOOK_ID_PARAMETER = OpenApiParameter("outlook_id", str, description="The Outlook (Exchange) item id.")
_record = serializers.DictField(allow_null=True, help_text="{id, name, version, in_scope, fields}")
_link = serializers.DictField(allow_null=True, help_text="{id, state, salesforce_id, outlook_id, salesforce_version, "
                              "outlook_version, last_synced_at, needs_retry, gone, last_error}")
RecordsResponse = inline_serializer("ExplorerRecords", {
    "results": inline_serializer("ExplorerRecord", {"name": serializers.CharField(), "link": _link,
                                                     "salesforce": _record, "outlook": _record}, many=True),
    "notes": serializers.ListField(child=serializers.CharField()),
})
ExplanationResponse = inline_serializer("RecordExplanation", {
    "object": serializers.CharField(), "link": _link, "salesforce": _record, "outlook": _record,
    "verdict": serializers.ChoiceField(choices=list(explorer.VERDICTS)),
    "summary": serializers.CharField(), "reasons": serializers.ListField(child=serializers.CharField()),
    "candidates": serializers.ListField(child=serializers.DictField()),
    "matches": serializers.ListField(child=serializers.DictField()),
    "notes": serializers.ListField(child=serializers.CharField()),
    "last_error": serializers.DictField(allow_null=True),
})


@extend_schema_view(
    list=extend_schema(parameters=[SEARCH_PARAMETER, CONFIGURATION_PARAMETER, STATE_PARAMETER, EXCHANGE_PARAMETER]),
)
class SyncUserViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Synced users with their effective configuration and per-object sync state."""

    serializer_class = SyncUserSerializer
    queryset = SyncUser.objects.all()

    def get_queryset(self):
        return synced_users()

    def filter_queryset(self, queryset):
        return filter_users_or_400(queryset, self.request.query_params) if self.action == "list" else queryset

    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self):
        if self.action == "create":
            return SyncUserCreateSerializer
        if self.action == "partial_update":
            return SyncUserUpdateSerializer
        return SyncUserSerializer

    @extend_schema(request=SyncUserUpdateSerializer, responses={200: SyncUserSerializer})
    def partial_update(self, request, *args, **kwargs):
        """Route the user's mailbox to one Exchange connection, or back to automatic (admin only)."""
        user = self.get_object()
        serializer = SyncUserUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        unknown = sorted(set(request.data) - set(SyncUserUpdateSerializer().fields))
        if unknown:
            return Response({name: ["This field cannot be changed here."] for name in unknown},
                            status=status.HTTP_400_BAD_REQUEST)
        if "exchange_route" in serializer.validated_data:
            services.set_exchange_route(user, serializer.validated_data["exchange_route"], actor=request.user)
        return Response(SyncUserSerializer(synced_users().get(pk=user.pk)).data)

    @extend_schema(request=SyncUserCreateSerializer, responses={201: SyncUserSerializer})
    def create(self, request, *args, **kwargs):
        """Add a synced user by hand (admin only)."""
        serializer = SyncUserCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = services.add_sync_user(serializer.validated_data, actor=request.user)
        except services.SyncUserInvalid as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(SyncUserSerializer(synced_users().get(pk=user.pk)).data, status=status.HTTP_201_CREATED)

    # The record explorer (sync.explorer): reads both ends live as the user; writes nothing.
    @extend_schema(parameters=[RECORD_OBJECT_PARAMETER, RECORD_Q_PARAMETER],
                   responses={200: RecordsResponse, 400: dict}, tags=["users"])
    @action(detail=True, methods=["get"], url_path="records",
            permission_classes=[permission_required("users.view_syncuser")])
    def records(self, request, pk=None):
        """The user's records of one object matching `q` (e-mail, name, subject, a Salesforce id or an Outlook item
        id), read live from both ends and paired by their links. Writes nothing."""
        user = self.get_object()
        try:
            found = explorer.find_records(user, request.query_params.get("object", ""),
                                          request.query_params.get("q", ""))
        except explorer.ExplorerInputError as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(found)

    @extend_schema(parameters=[RECORD_OBJECT_PARAMETER, RECORD_SALESFORCE_ID_PARAMETER, RECORD_OUTLOOK_ID_PARAMETER,
                               RECORD_Q_PARAMETER],
                   responses={200: ExplanationResponse, 400: dict}, tags=["users"])
    @action(detail=True, methods=["get"], url_path="records/explain",
            permission_classes=[permission_required("users.view_syncuser")])
    def explain_record(self, request, pk=None):
        """Why one record does or does not sync: its link, both ends' copies as read now, a verdict and the
        reasons in sentences. Name it by exactly one of salesforce_id, outlook_id or q. Writes nothing."""
        user = self.get_object()
        params = request.query_params
        try:
            answer = explorer.explain_record(user, params.get("object", ""), salesforce_id=params.get("salesforce_id"),
                                             outlook_id=params.get("outlook_id"), q=params.get("q"))
        except explorer.ExplorerInputError as exc:
            return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
        return Response(answer.as_dict())


# ---- user operations ---------------------------------------------------------------------------------------------


class ObjectsSerializer(serializers.Serializer):
    objects = serializers.ListField(
        child=serializers.ChoiceField(choices=SyncObject.values), required=False, allow_empty=False,
        help_text="Default: every object the user's configuration syncs.",
    )


class QueuedObjectSerializer(serializers.Serializer):
    object = serializers.ChoiceField(choices=SyncObject.values)
    run = serializers.IntegerField(help_text="The run queued for it.")


class BusyObjectSerializer(serializers.Serializer):
    object = serializers.ChoiceField(choices=SyncObject.values)
    run = serializers.IntegerField(help_text="The run already queued or running for it.")
    state = serializers.ChoiceField(choices=["queued", "running"])


RunsResponse = inline_serializer("QueuedRuns", {
    "runs": serializers.ListField(child=serializers.IntegerField(), help_text="The ids of the runs queued."),
    "queued": QueuedObjectSerializer(many=True, help_text="The objects queued, each with its run."),
    "busy": BusyObjectSerializer(
        many=True, help_text="The objects left out because a run of theirs was already queued or running."),
    "detail": serializers.CharField(help_text="The same, in one sentence."),
})
QueueDownResponse = inline_serializer("QueueUnavailable", {"detail": serializers.CharField()})
BusyResponse = inline_serializer("SyncBusy", {
    "detail": serializers.CharField(),
    "running_run": serializers.IntegerField(allow_null=True, help_text="The first busy object's run."),
    "busy": BusyObjectSerializer(many=True, help_text="Every object asked for, each with its queued or running run."),
})


def _queue(request, pk: int, operation) -> Response:
    user = get_object_or_404(SyncUser, pk=pk)
    body = ObjectsSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        runs = operation(user, body.validated_data.get("objects"), actor=request.user)
    except operations.ObjectsBusy as exc:  # every object is already under way: nothing could be queued
        return Response({"detail": str(exc), "running_run": exc.running_run_id,
                         "busy": [b.as_dict() for b in exc.busy]}, status=status.HTTP_409_CONFLICT)
    except SyncUnavailable as exc:  # nothing to sync: not a conflict but a request that cannot be met
        return Response({"objects": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
    except QueueUnavailable as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": "60"})
    return Response({
        "runs": [run.pk for run in runs], "queued": [{"object": run.object, "run": run.pk} for run in runs],
        "busy": [b.as_dict() for b in runs.busy], "detail": runs.sentence(),
    }, status=status.HTTP_202_ACCEPTED)


@extend_schema(request=ObjectsSerializer, responses={202: RunsResponse, 400: dict, 409: BusyResponse,
                                                    503: QueueDownResponse}, tags=["users"])
@api_view(["POST"])
@permission_classes([permission_required("users.sync_now")])
def sync_now(request, pk: int):
    """Sync the user's objects now: every object that can be queued is; those with a run already queued or running
    are listed in `busy` with that run. 409 only when every object asked for is busy (nothing was queued)."""
    return _queue(request, pk, operations.sync_now)


@extend_schema(request=ObjectsSerializer, responses={202: RunsResponse, 400: dict, 409: BusyResponse,
                                                    503: QueueDownResponse}, tags=["users"])
@api_view(["POST"])
@permission_classes([permission_required("users.reset_sync")])
def reset(request, pk: int):
    """Forget the user's links and watermarks for the objects (no record is touched), then a full matching sync.
    An object with a run queued or running is not reset and is listed in `busy`; 409 when every one is busy."""
    return _queue(request, pk, operations.reset_sync)


@extend_schema(request=None, responses={200: inline_serializer("ConnectionTest", {"salesforce": Check,
                                                                                  "exchange": Check}),
                                        409: TestBusy},
               tags=["users"])
@api_view(["POST"])
@permission_classes([permission_required("users.test_connection")])
def test_connection(request, pk: int):
    """Check the user's Salesforce token and object permissions, and their mailbox and contacts folder (within 10
    seconds). 409 while another test of this user's connections is under way."""
    user = get_object_or_404(SyncUser, pk=pk)
    try:
        return Response(operations.test_connection(user, actor=request.user))
    except ConnectionTestBusy as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)


ImportResponse = inline_serializer("ImportedUsers", {
    "created": serializers.ListField(child=serializers.CharField()),
    "updated": serializers.ListField(child=serializers.CharField()),
    "deactivated": serializers.ListField(child=serializers.CharField()),
})


@extend_schema(request=None, responses={200: ImportResponse, 409: dict, 503: dict}, tags=["users"])
@api_view(["POST"])
@permission_classes([permission_required("users.add_syncuser", "users.change_syncuser")])
def import_users(request):
    """Import Salesforce's active users as synced users (new ones added, known ones updated, gone ones
    deactivated). Nobody is assigned a configuration here."""
    try:
        result = operations.import_users(actor=request.user)
    except ConnectorError as exc:
        # Salesforce unreachable for now: 503; a connection a person must fix first: 409.
        code = status.HTTP_503_SERVICE_UNAVAILABLE if isinstance(exc, TransientError) else status.HTTP_409_CONFLICT
        return Response({"detail": f"{exc.message} {getattr(exc, 'action', '')}".strip(), "code": exc.code},
                        status=code)
    return Response({"created": result.created, "updated": result.updated, "deactivated": result.deactivated})

