"""REST API for bulk actions on synced users: `POST /api/v1/users/bulk/` (sync now, reset, assign, unassign for the
users named or every user matching the users list's filters); the work is done by users.bulk."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from configurations.models import OutlookConfiguration, SyncObject
from sync.queue import QueueUnavailable
from syncadmin.permissions import permission_required
from users import bulk
from users.api import BusyObjectSerializer, QueueDownResponse
from users.filters import MAX_SEARCH

_BULK_PERMISSIONS = {"sync": "users.sync_now", "reset": "users.reset_sync", "assign": "users.change_syncuser",
                     "unassign": "users.change_syncuser"}


class BulkFilterSerializer(serializers.Serializer):
    refuses_unknown_fields = True

    search = serializers.CharField(required=False, allow_blank=True, max_length=MAX_SEARCH)
    configuration = serializers.CharField(required=False, allow_blank=True, max_length=20)
    state = serializers.CharField(required=False, allow_blank=True, max_length=40)
    exchange = serializers.CharField(required=False, allow_blank=True, max_length=10)


class BulkRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=bulk.ACTIONS)
    users = serializers.ListField(
        child=serializers.JSONField(), required=False, allow_empty=False, max_length=bulk.MAX_USERS,
        help_text="Ids, Salesforce ids, usernames or e-mail addresses (mixed). Or `filter`, not both.")
    filter = serializers.DictField(
        required=False, help_text="Every user the users list shows with these filters (search, configuration, state, "
                                  "exchange).")
    objects = serializers.ListField(child=serializers.ChoiceField(choices=SyncObject.values), required=False,
                                    allow_empty=False, help_text="sync and reset: default every synced object.")
    configuration = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1,
                                             help_text="assign: the configuration; unassign: only from this one.")


class BulkEntrySerializer(serializers.Serializer):
    user = serializers.IntegerField(allow_null=True, help_text="null for an identifier that matched nobody")
    username = serializers.CharField()
    runs = serializers.ListField(child=serializers.IntegerField(), required=False, help_text="sync and reset")
    busy = BusyObjectSerializer(many=True, required=False, help_text="sync and reset: objects already under way")
    result = serializers.CharField(required=False, help_text="assign: assigned or moved; unassign: unassigned")
    reason = serializers.CharField(required=False, help_text="skipped: why, in a sentence")

BulkResponse = inline_serializer("BulkResult", {
    "matched": serializers.IntegerField(),
    "queued": BulkEntrySerializer(many=True),
    "skipped": BulkEntrySerializer(many=True),
    "detail": serializers.CharField(),
})


@extend_schema(request=BulkRequestSerializer, responses={202: BulkResponse, 400: dict, 503: QueueDownResponse},
               tags=["users"])
@api_view(["POST"])
@permission_classes([permission_required("users.view_syncuser")])
def bulk_action(request):
    """Sync now, reset, assign or unassign many users at once: those named in `users`, or every user matching
    `filter` (the users list's filters). 202 with how many matched, what was done for each, and what was skipped
    and why; 503 (nothing done) when the task queue is unreachable."""
    body = BulkRequestSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    if not request.user.has_perm(_BULK_PERMISSIONS[data["action"]]):
        return Response({"detail": "Your role does not allow this action."}, status=status.HTTP_403_FORBIDDEN)
    configuration = None
    if "configuration" in data:
        configuration = OutlookConfiguration.objects.filter(pk=data["configuration"]).first()
        if configuration is None:
            return Response({"configuration": [f"Configuration {data['configuration']} does not exist."]},
                            status=status.HTTP_400_BAD_REQUEST)
    if "filter" in data:
        BulkFilterSerializer(data=data["filter"]).is_valid(raise_exception=True)
    try:
        users, unknown = bulk.select_users(data.get("users"), data.get("filter"))
        result = bulk.bulk_action(data["action"], users, unknown=unknown, objects=data.get("objects"),
                                  configuration=configuration, actor=request.user)
    except bulk.BulkInvalid as exc:
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    except QueueUnavailable as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": "60"})
    return Response(result.as_dict(), status=status.HTTP_202_ACCEPTED)
