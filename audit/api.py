"""REST API for the audit trail (read-only): who changed what, when, and what changed."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets

from audit.models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    configuration = serializers.IntegerField(source="configuration_id", read_only=True, allow_null=True)
    actor = serializers.CharField(source="actor_name", read_only=True)

    class Meta:
        model = AuditEntry
        fields = ["id", "at", "actor", "action", "configuration", "configuration_name", "summary", "changes"]


class AuditFilterSerializer(serializers.Serializer):
    configuration = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    action = serializers.ChoiceField(choices=AuditEntry.Action.choices, required=False)


def filter_entries(queryset, params):
    """The trail's filters (``configuration``, ``action``); a bad value is a 400 naming the parameter."""
    filters = AuditFilterSerializer(data=params)
    filters.is_valid(raise_exception=True)
    if "configuration" in filters.validated_data:
        queryset = queryset.filter(configuration_id=filters.validated_data["configuration"])
    if "action" in filters.validated_data:
        queryset = queryset.filter(action=filters.validated_data["action"])
    return queryset


ACTION_PARAMETER = OpenApiParameter("action", OpenApiTypes.STR, enum=AuditEntry.Action.values)


@extend_schema_view(list=extend_schema(parameters=[
    # The list reads its filters as a form does: an empty value filters nothing (x-allow-empty, see syncadmin.openapi).
    OpenApiParameter("configuration", {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
                     description="Entries about this configuration.", extensions={"x-allow-empty": True}),
    OpenApiParameter("action", OpenApiTypes.STR, enum=AuditEntry.Action.values, extensions={"x-allow-empty": True}),
]))
class AuditEntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The audit trail: who changed which configuration, assignment, synced user or connection, when, and what
    changed."""

    serializer_class = AuditEntrySerializer
    queryset = AuditEntry.objects.all()

    def filter_queryset(self, queryset):
        if self.action != "list":
            return queryset
        return filter_entries(queryset, self.request.query_params)
