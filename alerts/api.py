"""The alerts API: where alerts go (`GET/PUT /api/v1/alerts/settings/`, the webhook secret write-only) and the alerts
sent (`GET /api/v1/alerts/`). Admins and API clients only."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from alerts.models import Alert, AlertSettings
from alerts.services import settings_as_dict, update_settings
from syncadmin.roles import ADMIN, API, role_of


class ManagesAlerts(IsAuthenticated):
    """Admins and API clients (an admin's rights through the API); support staff and others are refused (403)."""

    message = "Only admins (and API clients) see and change where alerts go."

    def has_permission(self, request, view):
        return super().has_permission(request, view) and role_of(request.user) in (ADMIN, API)


class AlertSettingsSerializer(serializers.Serializer):
    """The schema of the settings (a PUT may give any of the fields); `alerts.services` checks them."""

    emails = serializers.ListField(child=serializers.EmailField(), max_length=20, required=False)
    webhook_url = serializers.URLField(allow_blank=True, max_length=500, required=False,
                                       help_text="https (plain http to this machine only); needs a webhook_secret.")
    webhook_secret = serializers.CharField(write_only=True, required=False, allow_blank=True,
                                           help_text="Write only: never returned. Blank or absent keeps the "
                                                     "stored one.")
    webhook_secret_set = serializers.BooleanField(read_only=True)
    after_minutes = serializers.IntegerField(min_value=1, max_value=7 * 24 * 60, required=False)
    digest = serializers.BooleanField(required=False)
    api_share_threshold = serializers.FloatField(min_value=0, max_value=1, required=False)


class AlertSerializer(serializers.ModelSerializer):
    when = serializers.DateTimeField(source="created_at", read_only=True)
    delivered = serializers.BooleanField(read_only=True)

    class Meta:
        model = Alert
        fields = ["id", "when", "cause", "code", "subject", "body", "users", "user_count", "channel", "recipients",
                  "state", "delivered", "delivered_at", "attempts", "next_attempt_at", "last_error", "digest"]
        read_only_fields = fields


@extend_schema(methods=["GET"], responses={200: AlertSettingsSerializer}, tags=["alerts"])
@extend_schema(methods=["PUT"], request=AlertSettingsSerializer, responses={200: AlertSettingsSerializer, 400: dict},
               tags=["alerts"])
@api_view(["GET", "PUT"])
@permission_classes([ManagesAlerts])
def alert_settings(request):
    """Where alerts go: e-mail addresses and/or a webhook (signed JSON), after how long a persisting error is alerted,
    the daily digest instead of immediate alerts, and the Salesforce API share that triggers an alert. A PUT may
    give any of the fields; the others keep their values."""
    if request.method == "PUT":
        if not isinstance(request.data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Send a JSON object with the alert settings."]})
        try:
            row = update_settings(dict(request.data), actor=request.user)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
    else:
        row = AlertSettings.load()
    return Response(settings_as_dict(row))


@extend_schema(tags=["alerts"])
class AlertViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The alerts sent, newest first: when, the cause, the users it names, the channel and whether it was delivered
    (an alert held for the daily digest counts as delivered once its digest is)."""

    serializer_class = AlertSerializer
    permission_classes = [ManagesAlerts]
    queryset = Alert.objects.select_related("digest").order_by("-created_at", "-pk")


