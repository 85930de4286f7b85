"""The endpoint Microsoft Graph posts change and lifecycle notifications to (`POST /graph/notifications/`, the URL
GRAPH_NOTIFICATION_URL names). It answers Graph's validation handshake and hands notifications to sync.feeds.graph;
no session or token: each notification proves itself with its subscription's client state.

Graph expects an answer within a few seconds (slow endpoints get their notifications dropped), so nothing here
calls Graph: lifecycle work goes to a task. Bodies and tokens are size-limited; nothing a caller sends can make
the endpoint fail with a 500."""

from __future__ import annotations

import json
import logging

from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from sync.feeds.graph import handle_lifecycle, handle_notifications, schedule_lifecycle

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000  # Graph sends at most a few hundred small notifications per request
MAX_TOKEN_CHARACTERS = 1024  # Graph's validation tokens are far shorter


def _answer(status: int, sentence: str = "", **headers: str) -> HttpResponse:
    response = HttpResponse(sentence, status=status, content_type="text/plain; charset=utf-8")
    response["X-Content-Type-Options"] = "nosniff"
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


@csrf_exempt
def graph_notifications(request: HttpRequest) -> HttpResponse:
    """Graph's validation handshake (`?validationToken=` → the token as plain text), or a JSON body of change or
    lifecycle notifications (→ 202 at once)."""
    if request.method != "POST":
        return _answer(405, "Only Microsoft Graph posts here (POST with notifications or a validation token).",
                       Allow="POST")
    if "validationToken" in request.GET:
        token = request.GET["validationToken"]
        if not token or len(token) > MAX_TOKEN_CHARACTERS:
            return _answer(400, f"The validation token is empty or longer than {MAX_TOKEN_CHARACTERS} characters.")
        return _answer(200, token)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    body = request.read(MAX_BODY_BYTES + 1) if declared <= MAX_BODY_BYTES else b""
    if declared > MAX_BODY_BYTES or len(body) > MAX_BODY_BYTES:
        return _answer(413, f"The notification body is larger than {MAX_BODY_BYTES} bytes; nothing was read.")
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return _answer(400, "The body is not JSON: Microsoft Graph posts notifications as a JSON object.")
    if not isinstance(payload, dict) or not isinstance(payload.get("value"), list):
        return _answer(400, "The body has no notification list (\"value\"): nothing was done.")
    lifecycle = [n for n in payload["value"] if isinstance(n, dict) and "lifecycleEvent" in n]
    changes = [n for n in payload["value"] if not (isinstance(n, dict) and "lifecycleEvent" in n)]
    try:
        if changes:
            handle_notifications({"value": changes})
        if lifecycle:
            schedule_lifecycle(handle_lifecycle({"value": lifecycle}))
    except DatabaseError:
        # Graph delivers again after an error answer: nothing is lost while the database is away.
        log.exception("Graph notifications could not be recorded: the database is unreachable")
        return _answer(503, "The notifications could not be recorded now; send them again later.", Retry_After="30")
    except Exception:
        # A bug here must not make Graph drop the subscription: the sweep syncs the objects anyway.
        log.exception("Graph notifications could not be handled")
    return _answer(202)
