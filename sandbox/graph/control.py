"""The JSON control API under /_sandbox/ on the Graph port: users, faults, stats, reset, token and delta-token
expiry, and a look into mailboxes, with what a user does in Outlook that Graph v1.0 cannot: moving or copying a
contact to another folder (the contact resource has no move or copy), and putting items of other classes (contact
groups, notes, meeting messages) in a contact folder or the calendar (Graph has no resource for them there).

    POST /_sandbox/mailboxes/{upn}/contacts/{id}/move  {"folder_id": "..."}  → {"id": <new id>, "parentFolderId"}
    POST /_sandbox/mailboxes/{upn}/contacts/{id}/copy  {"folder_id": "..."}  → {"id": <new id>, "parentFolderId"}
    POST /_sandbox/mailboxes/{upn}/items  {"folder_id": "<contact folder id>" | "calendar", "itemClass": "IPM.DistList",
                                           "subject": "..."}                  → 201 {"id", "itemClass", "folder_id"}

Change notification subscriptions (sandbox/graph/subscriptions.py):

    GET  /_sandbox/graph/subscriptions            → {"subscriptions": [{..., "mailbox", "deliveries",
                                                     "lifecycle_deliveries", "failed_attempts", "dropped", "pending"}],
                                                     "notifications": {totals}, "settings": {...}}
    POST /_sandbox/graph/subscriptions/lifecycle  {"event": "reauthorizationRequired"|"subscriptionRemoved"|"missed",
                                                   "subscription": id?, "mailbox": upn?}  → {"sent": [ids]}
    POST /_sandbox/graph/subscriptions/expire     {"subscription": id?, "mailbox": upn?}  → {"expired": [ids]}
    POST /_sandbox/graph/subscriptions/settings   {"retry_seconds", "backoff_seconds", "max_backoff_seconds",
                                                   "batch_delay_seconds", "timeout_seconds"} (any)  → {"settings"}
"""

import json

from sandbox.graph import contacts
from sandbox.graph.errors import GraphError
from sandbox.graph.notifications import DEFAULTS as DELIVERY_DEFAULTS
from sandbox.graph.store import now_iso
from sandbox.graph.subscriptions import LIFECYCLE_EVENTS

FAULT_KEYS = {"operation", "status", "error_code", "retry_after", "latency_ms", "count"}


def _json(status: int, data) -> tuple[int, list, bytes]:
    return status, [("Content-Type", "application/json")], json.dumps(data, ensure_ascii=False).encode()


def handle_control(emu, method: str, path: str, raw: bytes, base: str):
    parts = [p for p in path.split("/") if p][1:]
    try:
        body = json.loads(raw or b"{}") if method in ("POST", "PUT", "PATCH") else {}
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
    except (ValueError, UnicodeDecodeError) as e:
        return _json(400, {"error": f"invalid JSON: {e}"})
    route = (method, tuple(parts))
    if route == ("POST", ("users",)):
        missing = {"username", "email", "first_name", "last_name"} - set(body)
        if emu.hub is None:
            missing -= {"username"}
        if missing:
            return _json(400, {"error": f"missing fields: {', '.join(sorted(missing))}"})
        if emu.hub is None:
            upn = emu.create_mailbox(email=body["email"],
                                     display_name=f"{body['first_name']} {body['last_name']}".strip())
            return _json(201, {"mailbox": upn})
        return _json(201, emu.hub.create_user(username=body["username"], email=body["email"],
                                              first_name=body["first_name"], last_name=body["last_name"],
                                              profile=body.get("profile", "Standard User")))
    if route == ("GET", ("users",)):
        with emu.store.lock:
            return _json(200, {"users": [{"userPrincipalName": mb["upn"], "id": mb["user_id"],
                                          "displayName": mb["display_name"]}
                                         for mb in sorted(emu.store.mailboxes.values(), key=lambda m: m["upn"])]})
    if parts[:1] == ["faults"] and len(parts) == 1:
        return _faults(emu, method, body)
    if route == ("GET", ("stats",)):
        with emu.fault_lock:
            return _json(200, {"calls": dict(emu.calls), "calls_by_user": dict(emu.calls_by_user),
                               "batched": dict(emu.batched), "requests_by_user": dict(emu.requests_by_user),
                               "notifications": emu.subscriptions.deliveries.totals()})
    if route == ("DELETE", ("stats",)):
        with emu.fault_lock:
            emu.calls.clear()
            emu.calls_by_user.clear()
            emu.batched.clear()
            emu.requests_by_user.clear()
        emu.subscriptions.deliveries.clear(counts_only=True)
        return _json(200, {"calls": {}, "calls_by_user": {}, "batched": {}, "requests_by_user": {},
                           "notifications": emu.subscriptions.deliveries.totals()})
    if route == ("POST", ("reset",)):
        if emu.hub is not None:
            emu.hub.reset()
        else:
            emu.reset()
        return _json(200, {"status": "reset"})
    if route == ("POST", ("tokens", "expire")):
        emu.identity.expire_tokens()
        return _json(200, {"status": "every access token issued so far is now invalid"})
    if route == ("POST", ("tokens",)):
        seconds = body.get("lifetime_seconds")
        if not isinstance(seconds, int) or not 1 <= seconds <= 86400:
            return _json(400, {"error": "lifetime_seconds: an integer between 1 and 86400"})
        emu.identity.token_lifetime = seconds
        return _json(200, {"lifetime_seconds": seconds})
    if route == ("POST", ("delta", "expire")):
        return _json(200, {"forgotten": emu.store.forget_delta_states()})
    if route == ("GET", ("app",)):
        return _json(200, {**emu.identity.app, "authority": f"{base}/{emu.identity.app['tenant_id']}",
                           "graph_url": base})
    if parts[:1] == ["mailboxes"]:
        return _mailboxes(emu, method, parts[1:], body)
    if parts[:2] == ["graph", "subscriptions"]:
        return _subscriptions(emu, method, parts[2:], body)
    return _json(404, {"error": "unknown control endpoint"})


def _subscriptions(emu, method, rest, body):
    subs = emu.subscriptions
    target = {"subscription_id": body.get("subscription") or None, "mailbox": body.get("mailbox") or None}
    if method == "GET" and not rest:
        return _json(200, {"subscriptions": subs.listing(), "notifications": subs.deliveries.totals(),
                           "settings": dict(subs.deliveries.settings)})
    if method == "POST" and rest == ["lifecycle"]:
        if body.get("event") not in LIFECYCLE_EVENTS:
            return _json(400, {"error": f"The event must be one of {', '.join(LIFECYCLE_EVENTS)}; resend the request "
                                        "with one of them."})
        return _json(200, {"sent": subs.lifecycle(body["event"], **target)})
    if method == "POST" and rest == ["expire"]:
        return _json(200, {"expired": subs.expire_now(**target)})
    if method == "POST" and rest == ["settings"]:
        unknown = set(body) - set(DELIVERY_DEFAULTS)
        values = {k: body[k] for k in body if k in DELIVERY_DEFAULTS}
        if unknown or any(not isinstance(v, int | float) or isinstance(v, bool) or v < 0 for v in values.values()) \
                or values.get("timeout_seconds", 1) <= 0:
            return _json(400, {"error": f"Give any of {', '.join(sorted(DELIVERY_DEFAULTS))} as numbers of seconds "
                                        "(zero or more, timeout_seconds more than zero); nothing was changed."})
        with subs.deliveries.cond:
            subs.deliveries.settings.update(values)
        return _json(200, {"settings": dict(subs.deliveries.settings)})
    return _json(404, {"error": "unknown control endpoint"})


def _faults(emu, method, body):
    if method == "DELETE":
        with emu.fault_lock:
            emu.faults.clear()
        return _json(200, {"faults": []})
    if method == "GET":
        with emu.fault_lock:
            return _json(200, {"faults": list(emu.faults)})
    if method != "POST":
        return _json(405, {"error": "method not allowed"})
    unknown = set(body) - FAULT_KEYS
    if unknown or not isinstance(body.get("operation"), str) or not body["operation"]:
        return _json(400, {"error": f"expected {sorted(FAULT_KEYS)}; 'operation' is required"})
    try:
        fault = {"operation": body["operation"].strip("/"), "status": int(body.get("status", 429)),
                 "error_code": body.get("error_code"),
                 "retry_after": int(body["retry_after"]) if body.get("retry_after") is not None else None,
                 "latency_ms": int(body.get("latency_ms") or 0), "count": int(body.get("count", 1))}
    except (TypeError, ValueError):
        return _json(400, {"error": "status, retry_after, latency_ms and count must be integers"})
    if not (fault["status"] == 200 or 400 <= fault["status"] <= 599) or fault["count"] < 1 \
            or fault["latency_ms"] < 0 or (fault["retry_after"] is not None and fault["retry_after"] < 0):
        return _json(400, {"error": "status must be 200 (latency only) or 400-599, count >= 1, latency_ms >= 0"})
    if fault["retry_after"] is None and fault["status"] in (429, 503):
        fault["retry_after"] = 1  # Graph always says when to come back when it throttles
    fault["remaining"] = fault["count"]
    with emu.fault_lock:
        emu.faults.append(fault)
        return _json(201, {"faults": list(emu.faults)})


def _mailboxes(emu, method, rest, body):
    store = emu.store
    with store.lock:
        if not rest and method == "GET":
            return _json(200, {"mailboxes": [{"mailbox": mb["upn"], "contacts": len(mb["contacts"]),
                                              "events": len(mb["events"]), "tasks": len(mb["tasks"])}
                                             for mb in sorted(store.mailboxes.values(), key=lambda m: m["upn"])]})
        mb = store.mailbox(rest[0]) if rest else None
        if mb is None:
            return _json(404, {"error": "no such mailbox"})
        if len(rest) == 1 and method == "GET":
            return _json(200, {
                "mailbox": mb["upn"], "id": mb["user_id"],
                "contact_folders": [{"id": f["id"], "displayName": f["props"]["displayName"],
                                     "default": bool(f.get("default")),
                                     "contacts": [{"id": c["id"], "displayName": c["props"].get("displayName")}
                                                  for c in mb["contacts"].values() if c["folder"] == f["id"]]}
                                    for f in mb["contact_folders"].values()],
                "events": [{"id": e["id"], "subject": e["props"].get("subject"),
                            "recurring": bool(e["props"].get("recurrence")),
                            "updates_sent": e.get("updates_sent", 0)} for e in mb["events"].values()],
                "other_items": [{"id": i["id"], "itemClass": i["props"]["itemClass"], "folder_id": i["folder"],
                                 "subject": i["props"]["subject"]} for i in mb.get("other_items", {}).values()],
                "todo_lists": [{"id": tl["id"], "displayName": tl["props"]["displayName"],
                                "tasks": [{"id": t["id"], "title": t["props"].get("title")}
                                          for t in mb["tasks"].values() if t["list"] == tl["id"]]}
                               for tl in mb["todo_lists"].values()]})
        if len(rest) == 4 and rest[1] == "events" and rest[3] == "response" and method == "POST":
            # An attendee answers a meeting this mailbox organizes: Exchange records the response on the
            # organizer's copy (a new changeKey for the event, and for every occurrence of a series).
            rec = mb["events"].get(rest[2])
            address = str(body.get("attendee", "")).lower()
            attendee = next((a for a in (rec or {}).get("props", {}).get("attendees", [])
                             if str(a["emailAddress"].get("address", "")).lower() == address), None)
            if attendee is None:
                return _json(404, {"error": "no such event or attendee"})
            attendee["status"] = {"response": str(body.get("response", "accepted")), "time": now_iso()}
            rec["props_version"] = rec.get("props_version", 1) + 1
            store.changed(mb, rec)
            store.flush()
            return _json(200, {"attendee": address, "status": attendee["status"]})
        if len(rest) == 2 and rest[1] == "quirks" and method == "POST":
            # Known gaps of Exchange Online this mailbox reproduces, e.g. {"delta_skips_cancelled_occurrences": true}
            mb.setdefault("quirks", {}).update({str(k): bool(v) for k, v in body.items()})
            store.touch(mb)
            store.flush()
            return _json(200, {"quirks": mb["quirks"]})
        if len(rest) == 4 and rest[1] == "contacts" and rest[3] in ("move", "copy") and method == "POST":
            action = contacts.move_contact if rest[3] == "move" else contacts.copy_contact
            try:
                moved = action(store, mb, rest[2], str(body.get("folder_id", "")))
            except GraphError as e:
                return _json(e.status, {"error": e.message})
            finally:
                store.flush()
            return _json(200, {"id": moved["id"], "parentFolderId": moved["folder"]})
        if len(rest) == 2 and rest[1] == "items" and method == "POST":
            try:
                item = contacts.add_other_item(store, mb, str(body.get("folder_id", "")),
                                               str(body.get("itemClass", "")), str(body.get("subject", "")))
            except GraphError as e:
                return _json(e.status, {"error": e.message})
            finally:
                store.flush()
            return _json(201, {"id": item["id"], "itemClass": item["props"]["itemClass"], "folder_id": item["folder"]})
    return _json(404, {"error": "unknown control endpoint"})
