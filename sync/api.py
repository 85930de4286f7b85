"""REST API for sync: the runs (read) and the connections. The user operations (sync now, reset, test connection,
import) are in users.api."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_serializer,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.response import Response

from configurations.models import SyncObject
from sync import connections, runs_csv
from sync.feeds.health import feeds_overview
from sync.filters import filter_runs
from sync.models import ChangeFeed, Connection, MailboxSubscription, RecordError, SyncRun
from sync.routing import routing_summary
from syncadmin.api_fields import BooleanField, CharField, URLField
from syncadmin.permissions import permission_required


class RecordErrorSerializer(serializers.ModelSerializer):
    class Meta:
        model = RecordError
        fields = ["side", "record_id", "code", "message", "transient", "created_at"]


class SyncRunSerializer(serializers.ModelSerializer):
    errors = RecordErrorSerializer(source="record_errors", many=True, read_only=True)
    error = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    # The contract's name for the run's actor (who asked for it; null for the scheduler).
    requested_by = serializers.PrimaryKeyRelatedField(source="actor", read_only=True, allow_null=True)

    class Meta:
        model = SyncRun
        fields = [
            "id", "user", "object", "trigger", "state", "full", "requested_by", "created_at", "started_at",
            "finished_at", "counts", "api_calls", "exchange_protocol", "salesforce_api_used",
            "salesforce_api_allocation", "error", "progress", "errors",
        ]

    def get_error(self, run: SyncRun) -> dict | None:
        return {"code": run.error_code, "message": run.error_message} if run.error_code else None

    def get_progress(self, run: SyncRun) -> dict | None:
        if run.state != SyncRun.State.RUNNING:
            return None
        return {"done": run.progress_done, "total": run.progress_total}


class SyncRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Sync runs, newest first; filter with ?user=<id>&object=contacts&state=failed."""

    serializer_class = SyncRunSerializer
    queryset = SyncRun.objects.prefetch_related("record_errors").order_by("-created_at", "-pk")

    # The runs filter reads its parameters as the console's form does: an empty value filters nothing.
    @extend_schema(parameters=[
        OpenApiParameter("user", {"type": "string", "maxLength": 254}, extensions={"x-allow-empty": True},
                         description="id, username or e-mail address of a synced user (400 if none matches)"),
        OpenApiParameter("object", str, enum=SyncObject.values, extensions={"x-allow-empty": True}),
        OpenApiParameter("state", str, enum=SyncRun.State.values, extensions={"x-allow-empty": True}),
        OpenApiParameter("trigger", str, enum=SyncRun.Trigger.values, extensions={"x-allow-empty": True}),
    ])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        if self.action != "list":
            return super().get_queryset()
        runs, form = filter_runs(super().get_queryset(), self.request.query_params)
        if form.is_bound and not form.is_valid():
            raise serializers.ValidationError(form.errors)
        return runs


# One check's answer: a connection's test here, and each end of a user's connection test (users.api).
Check = inline_serializer("ConnectionCheck", {
    "ok": serializers.BooleanField(), "detail": serializers.CharField(),
    "in_use": serializers.BooleanField(required=False, help_text="false when no active user's mailbox is routed to "
                                                                 "this Exchange connection (absent otherwise)"),
})
# The answer while the same test is already under way (409).
TestBusy = inline_serializer("ConnectionTestBusy", {"detail": serializers.CharField()})


# ---- connections --------------------------------------------------------------------------------------------------


class ConnectionSerializer(serializers.ModelSerializer):
    """A connection's settings; the secret is write-only (`has_secret` says whether one is stored)."""

    # Booleans are true or false only and text is strings only, as the schema says (DRF's own fields take 1,
    # "yes", "on" for true, and numbers for text).
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping, models.BooleanField: BooleanField,
        models.CharField: CharField, models.TextField: CharField, models.URLField: URLField,
    }

    label = serializers.CharField(source="get_kind_display", read_only=True)
    secret = CharField(write_only=True, required=False, allow_blank=True, trim_whitespace=False,
                                   help_text="Private key, password, client secret or certificate; never returned.")
    has_secret = serializers.BooleanField(read_only=True)
    last_test_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text=(
        "When the connection was last tested (console or API); null when never tested since its settings changed."))
    last_test_ok = serializers.BooleanField(read_only=True, allow_null=True, help_text=(
        "Whether the last test worked; null when never tested, or when there was nothing to test with (no mailbox "
        "routed to this Exchange connection). A failed last test is alerted until a test passes."))
    last_test_detail = CharField(read_only=True, help_text="The last test's answer in words.")

    class Meta:
        model = Connection
        fields = ["kind", "label", "url", "username", "client_id", "tenant_id", "authority_url", "auth_type",
                  "version", "mailbox_routing", "mailbox_domains", "verify_tls", "ca_certificate", "secret",
                  "has_secret", "updated_at", "last_test_at", "last_test_ok", "last_test_detail"]
        read_only_fields = ["kind", "label", "has_secret", "updated_at"]
        extra_kwargs = {name: {"required": False} for name in ("url", "auth_type", "mailbox_routing")}


class ConnectionStateSerializer(ConnectionSerializer):
    """A connection as the API shows it: its settings and `configured: true`, or only `kind`, `label` and
    `configured: false` when none of that kind is stored (documentation; the view writes the data)."""

    configured = serializers.BooleanField()
    label = serializers.CharField()
    has_secret = serializers.BooleanField(required=False)
    updated_at = serializers.DateTimeField(required=False)
    last_test_at = serializers.DateTimeField(required=False, allow_null=True)
    last_test_ok = serializers.BooleanField(required=False, allow_null=True)
    last_test_detail = serializers.CharField(required=False)

    class Meta(ConnectionSerializer.Meta):
        fields = [*ConnectionSerializer.Meta.fields, "configured"]
        read_only_fields = []


RoutingSerializer = inline_serializer("MailboxRouting", {
    "rule": serializers.CharField(), "ews": serializers.IntegerField(), "graph": serializers.IntegerField(),
    "overridden": serializers.IntegerField(), "hybrid": serializers.BooleanField(),
})


@extend_schema_serializer(many=False)
class ConnectionListSerializer(serializers.Serializer):
    """Every kind of connection, configured or not (one page, always), and how mailboxes are routed."""

    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = ConnectionStateSerializer(many=True)
    routing = RoutingSerializer


@extend_schema_view(
    list=extend_schema(responses=ConnectionListSerializer, parameters=[OpenApiParameter("page", exclude=True)]),
    retrieve=extend_schema(responses=ConnectionStateSerializer),
)
class ConnectionViewSet(viewsets.GenericViewSet):
    """The connections to Salesforce, Exchange (EWS) and Exchange Online (Graph), by kind: read by every role,
    changed by admins, tested by those who may test connections."""

    serializer_class = ConnectionSerializer
    queryset = Connection.objects.all()
    lookup_field = "kind"
    lookup_value_regex = "|".join(Connection.Kind.values)
    http_method_names = ["get", "put", "patch", "post", "head", "options"]

    def get_permissions(self):
        if self.action == "test":
            return [permission_required("users.test_connection")()]
        return super().get_permissions()

    def list(self, request):
        """Every kind, configured or not (`configured: false` with nulls), and how mailboxes are routed."""
        stored = {c.kind: c for c in self.get_queryset()}
        results = [self._data(kind, stored.get(kind)) for kind in Connection.Kind.values]
        return Response({"count": len(results), "next": None, "previous": None, "results": results,
                         "routing": routing_summary()})

    def retrieve(self, request, kind: str):
        return Response(self._data(kind, Connection.objects.filter(kind=kind).first()))

    @extend_schema(request=ConnectionSerializer, responses={200: ConnectionStateSerializer})
    def update(self, request, kind: str):
        """Create or change the connection of this kind (PUT and PATCH alike: fields left out keep their value)."""
        serializer = ConnectionSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        secret = fields.pop("secret", None)
        try:
            connection = connections.save_connection(kind, secret=secret, actor=request.user, **fields)
        except ValidationError as exc:
            return Response(exc.message_dict, status=status.HTTP_400_BAD_REQUEST)
        return Response(self._data(kind, connection))

    partial_update = update

    @extend_schema(request=None, responses={200: Check, 409: TestBusy})
    @action(detail=True, methods=["post"])
    def test(self, request, kind: str):
        """Does it work? Salesforce: a token for the integration user; EWS: impersonation of a mailbox routed to
        it; Graph: a token for the app and a mailbox routed to it. Answers within 10 seconds; 409 while another
        test of the same connection is under way."""
        try:
            return Response(connections.check_connection(kind))
        except connections.ConnectionTestBusy as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)

    def _data(self, kind: str, connection: Connection | None) -> dict:
        if connection is None:
            return {"kind": kind, "label": Connection.Kind(kind).label, "configured": False}
        return {**ConnectionSerializer(connection).data, "configured": True}


# ---- change feeds -------------------------------------------------------------------------------------------------

FEED_STATES = ["healthy", "starting", "behind", "stale", "failed", "off", "down", "running"]


class FeedStateSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=FEED_STATES, help_text=(
        "What the part does now: `stale` is a feed whose stored state is live but that nobody polls (the listener "
        "stopped); `down` and `running` are the listener's."))
    state_label = serializers.CharField()
    message = serializers.CharField(help_text="What the state means for the syncs and, when something is wrong, its "
                                              "cause and what to do.")


class ListenerHealthSerializer(FeedStateSerializer):
    alive = serializers.BooleanField(help_text="A heartbeat within LISTENER_STALE_SECONDS.")
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    lease_owner = serializers.CharField(allow_blank=True, help_text="The process holding the listener's lease.")
    lease_expires_at = serializers.DateTimeField(allow_null=True)
    error_message = serializers.CharField(allow_blank=True)


class FeedHealthSerializer(FeedStateSerializer):
    stored_state = serializers.ChoiceField(choices=ChangeFeed.State.values)
    last_poll_at = serializers.DateTimeField(allow_null=True)
    lag_seconds = serializers.FloatField(allow_null=True)
    last_change_at = serializers.DateTimeField(allow_null=True)
    error_message = serializers.CharField(allow_blank=True)
    failed_since = serializers.DateTimeField(allow_null=True)
    api_calls = serializers.IntegerField()


class SalesforceFeedSerializer(FeedHealthSerializer):
    object = serializers.ChoiceField(choices=SyncObject.values)
    label = serializers.CharField()
    error_code = serializers.CharField(allow_blank=True)


class GraphDeltaSerializer(FeedHealthSerializer):
    objects = serializers.IntegerField(allow_null=True, help_text="Folders read at the last poll.")


class SubscriptionCountSerializer(serializers.Serializer):
    label = serializers.CharField()
    active = serializers.IntegerField(help_text="Subscriptions reporting changes (active, not expired).")
    failed = serializers.IntegerField(help_text="Subscriptions failed, or expired before renewal.")


class ProtocolSubscriptionsSerializer(SubscriptionCountSerializer):
    objects = serializers.DictField(child=SubscriptionCountSerializer(), help_text="Keyed by object.")
    message = serializers.CharField()


class SubscriptionsSerializer(serializers.Serializer):
    ews = ProtocolSubscriptionsSerializer()
    graph = ProtocolSubscriptionsSerializer()


class SubscriptionErrorSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    user = serializers.CharField()
    username = serializers.CharField()
    object = serializers.ChoiceField(choices=SyncObject.values)
    protocol = serializers.ChoiceField(choices=["ews", "graph"])
    state = serializers.ChoiceField(choices=MailboxSubscription.State.values)
    error_message = serializers.CharField()
    at = serializers.DateTimeField()


class GraphNotificationsSerializer(serializers.Serializer):
    url_set = serializers.BooleanField()
    url = serializers.CharField(allow_blank=True)


class FeedsOverviewSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    ok = serializers.BooleanField(help_text="Every feed in use reports its changes (`problems` is empty).")
    listener = ListenerHealthSerializer()
    salesforce = SalesforceFeedSerializer(many=True)
    subscriptions = SubscriptionsSerializer()
    subscription_errors = SubscriptionErrorSerializer(many=True)
    graph_delta = GraphDeltaSerializer()
    graph_notifications = GraphNotificationsSerializer()
    problems = serializers.ListField(child=serializers.CharField(),
                                     help_text="The sentences of what is not healthy, the listener first.")


@extend_schema(responses={200: FeedsOverviewSerializer}, tags=["feeds"])
@api_view(["GET"])
@permission_classes([permission_required("sync.view_changefeed")])
def feeds(request):
    """How the change feeds stand: the listener, each object's Salesforce org feed, the EWS and Graph
    subscriptions (active and failed, per object; the latest errors) and Graph delta polling, each with a sentence
    saying what its state means and, when something is wrong, what to do."""
    return Response(FeedsOverviewSerializer(feeds_overview()).data)


# ---- runs as CSV --------------------------------------------------------------------------------------------------


@extend_schema(
    parameters=[
        OpenApiParameter("since", OpenApiTypes.DATE, description="first day (the server's time zone)"),
        OpenApiParameter("until", OpenApiTypes.DATE, description="last day, included"),
        OpenApiParameter("configuration", {"type": "string", "pattern": "^(none|[1-9][0-9]{0,17})$"},
                         description="runs of the users this configuration applies to now; 'none' for users with "
                                     "none"),
        OpenApiParameter("error_code", {"type": "string", "maxLength": 100}),
        OpenApiParameter("user", {"type": "string", "maxLength": 254}, description="id, username or e-mail"),
        OpenApiParameter("object", str, enum=SyncObject.values),
        OpenApiParameter("state", str, enum=SyncRun.State.values),
        OpenApiParameter("trigger", str, enum=SyncRun.Trigger.values),
    ],
    responses={(200, "text/csv"): {"type": "string", "description": "one line per run, oldest first"}, 400: dict},
    tags=["sync-runs"],
)
@api_view(["GET"])
@permission_classes([permission_required("sync.view_syncrun")])
def runs_csv_export(request):
    """Sync runs as CSV (oldest first): counts per side, API calls, error, and the user's configuration now;
    filtered by a date range, configuration, error code, user, object, state and trigger."""
    runs, errors = runs_csv.export_runs(request.query_params)
    if errors:
        return Response(errors, status=status.HTTP_400_BAD_REQUEST)
    response = StreamingHttpResponse(runs_csv.csv_lines(runs), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{runs_csv.filename(request.query_params)}"'
    return response
