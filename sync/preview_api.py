"""REST API of the previews: a user's dry run, and reading any preview (a dry run or a configuration's impact
preview) while a worker computes it. Thin: sync.previews does the work."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.response import Response

from configurations.models import SyncObject
from sync import previews
from sync.models import Preview
from syncadmin.permissions import permission_required
from users.models import SyncUser


class DryRunSerializer(serializers.Serializer):
    objects = serializers.ListField(
        child=serializers.ChoiceField(choices=SyncObject.values), required=False, allow_empty=False,
        help_text="Default: every object the user's configuration syncs.",
    )


QueuedPreview = inline_serializer("QueuedPreview", {
    "preview": serializers.IntegerField(help_text="Read it at /api/v1/previews/{id}/ until its state is done."),
})


class PreviewSerializer(serializers.ModelSerializer):
    progress = serializers.JSONField(help_text='{"done": n, "total": n, "step": "..."}')
    result = serializers.JSONField(
        allow_null=True,
        help_text='Once done: {"users": n, "sampled": bool, "objects": {"contacts": {"create": {"salesforce": n, '
                  '"outlook": n}, "update": {...}, "delete": {...}, "link": n, "unlink": n, "conflicts": n, '
                  '...}}}. A dry run lists "actions" (action, side, name, reason) per object; an impact preview '
                  '"examples".')
    error = serializers.CharField(source="error_message", help_text="Why a failed preview has no result.")

    class Meta:
        model = Preview
        fields = ["id", "kind", "state", "user", "configuration", "request", "progress", "result", "error",
                  "created_at", "finished_at"]


def queued(preview: Preview) -> Response:
    return Response({"preview": preview.pk}, status=status.HTTP_202_ACCEPTED,
                    headers={"Location": f"/api/v1/previews/{preview.pk}/"})


@extend_schema(request=DryRunSerializer, responses={202: QueuedPreview, 400: dict}, tags=["users"])
@api_view(["POST"])
@permission_classes([permission_required("users.sync_now")])
def dry_run(request, pk: int):
    """What a sync of the user would do now, per object: creates, updates, deletes, links, unlinks and conflicts
    with who wins, each with the record's name and the reason. A worker reads both ends; nothing is written."""
    user = get_object_or_404(SyncUser, pk=pk)
    body = DryRunSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    try:
        preview = previews.request_dry_run(user, body.validated_data.get("objects"), actor=request.user)
    except previews.PreviewRefused as exc:
        return Response({"objects": [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
    return queued(preview)


@extend_schema(responses=PreviewSerializer, tags=["previews"])
@api_view(["GET"])
@permission_classes([permission_required("sync.view_preview")])
def preview_detail(request, pk: int):
    """A dry run or an impact preview: its state, its progress while a worker computes it, then its result."""
    return Response(PreviewSerializer(get_object_or_404(Preview, pk=pk)).data)
