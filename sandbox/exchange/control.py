"""The JSON control API under /_sandbox/ on the EWS port: users, faults, stats, reset, mailbox inspection,
notification subscriptions (/_sandbox/ews/subscriptions)."""

import json
from urllib.parse import parse_qs

from sandbox.exchange.fields import leaf, text_of
from sandbox.exchange.items import materialize
from sandbox.exchange.soap import child
from sandbox.exchange.store import now_iso

# the answers an attendee gives (t:ResponseTypeType, less the organizer's and the unanswered ones)
RESPONSE_TYPES = {"Accept", "Tentative", "Decline"}

FAULT_KEYS = {"operation", "status", "error_code", "latency_ms", "count", "back_off_ms"}


def _json(status: int, data) -> tuple[int, list, bytes]:
    return status, [("Content-Type", "application/json")], json.dumps(data, ensure_ascii=False).encode()


def _body(environ) -> dict:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > 1024 * 1024:
        raise ValueError("request body too large")
    raw = environ["wsgi.input"].read(length) if length else b""
    data = json.loads(raw or b"{}")
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def handle_control(emu, environ):
    method = environ.get("REQUEST_METHOD", "GET")
    parts = [p for p in environ.get("PATH_INFO", "").split("/") if p][1:]
    try:
        body = _body(environ) if method in ("POST", "PUT", "PATCH") else {}
    except (ValueError, UnicodeDecodeError) as e:
        return _json(400, {"error": f"invalid JSON: {e}"})
    route = (method, tuple(parts[:1]))
    if route == ("POST", ("users",)):
        missing = {"username", "email", "first_name", "last_name"} - set(body)
        if missing:
            return _json(400, {"error": f"missing fields: {', '.join(sorted(missing))}"})
        if emu.hub is None:
            return _json(400, {"error": "no hub"})
        result = emu.hub.create_user(username=body["username"], email=body["email"], first_name=body["first_name"],
                                     last_name=body["last_name"], profile=body.get("profile", "Standard User"))
        return _json(201, result)
    if parts[:1] == ["faults"]:
        return _faults(emu, method, body)
    if route == ("GET", ("stats",)):
        with emu.fault_lock:
            return _json(200, {"calls": dict(emu.calls), "calls_by_user": dict(emu.calls_by_user)})
    if route == ("DELETE", ("stats",)):
        with emu.fault_lock:
            emu.calls.clear()
            emu.calls_by_user.clear()
        return _json(200, {"calls": {}, "calls_by_user": {}})
    if route == ("POST", ("reset",)):
        if emu.hub is not None:
            emu.hub.reset()
        else:
            emu.reset()
        return _json(200, {"status": "reset"})
    if parts[:1] == ["mailboxes"] and len(parts) == 3 and parts[2] == "response":
        return _attendee_response(emu, method, parts[1], body)
    if parts[:1] == ["mailboxes"]:
        return _mailboxes(emu, method, parts[1:])
    if parts[:2] == ["ews", "subscriptions"]:
        return _subscriptions(emu, method, parts[2:], body, environ)
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
    if unknown or not isinstance(body.get("operation"), str):
        return _json(400, {"error": f"expected {sorted(FAULT_KEYS)}; 'operation' is required"})
    try:
        fault = {
            "operation": body["operation"], "status": int(body.get("status", 500)),
            "error_code": body.get("error_code"), "latency_ms": int(body.get("latency_ms") or 0),
            "count": int(body.get("count", 1)), "back_off_ms": int(body.get("back_off_ms") or 0),
        }
    except (TypeError, ValueError):
        return _json(400, {"error": "status, latency_ms, count and back_off_ms must be integers"})
    if fault["status"] not in (200, 500) or fault["count"] < 1 or fault["latency_ms"] < 0:
        return _json(400, {"error": "status must be 200 or 500, count >= 1, latency_ms >= 0"})
    fault["remaining"] = fault["count"]
    with emu.fault_lock:
        emu.faults.append(fault)
        return _json(201, {"faults": list(emu.faults)})


def _mailboxes(emu, method, rest):
    store = emu.store
    with store.lock:
        if not rest and method == "GET":
            return _json(200, {"mailboxes": [
                {"mailbox": mb["email"], "display_name": mb["display_name"], "items": len(mb["items"])}
                for mb in sorted(store.mailboxes.values(), key=lambda x: x["email"])]})
        mb = store.mailbox(rest[0]) if rest else None
        if mb is None:
            return _json(404, {"error": "no such mailbox"})
        if len(rest) == 1 and method == "GET":
            folders = []
            for f in mb["folders"].values():
                items = []
                for item in store.folder_items(mb, f["id"]):
                    props, _ = materialize(mb, item)
                    items.append({"id": item["id"], "type": item["kind"], "subject": text_of(props.get("Subject")),
                                  "change_key": props["ItemId"].get("ChangeKey"),
                                  "meeting_sends": list(item.get("meeting_sends", ()))})
                folders.append({"id": f["id"], "name": f["name"], "class": f["class"],
                                "distinguished": f["distinguished"], "parent": f["parent"], "items": items})
            return _json(200, {"mailbox": mb["email"], "display_name": mb["display_name"], "folders": folders})
        if len(rest) == 3 and rest[1] == "folders" and method == "DELETE":
            folder = mb["folders"].get(rest[2])
            if folder is None:
                return _json(404, {"error": "no such folder"})
            if folder["distinguished"]:
                return _json(400, {"error": "distinguished folders cannot be deleted"})
            store.delete_folder(mb, folder)
            store.flush()
            return _json(200, {"deleted": rest[2]})
    return _json(404, {"error": "unknown control endpoint"})


def _attendee_response(emu, method, email, body):
    """POST {"item_id", "attendee", "response"} (the item id in the body: an EWS id may hold a "/"): an attendee
    answers a meeting this mailbox organizes (Accept, Tentative or Decline). As Exchange, the
    response is recorded on the organizer's copy (the attendee's ResponseType and LastResponseTime), which gets a new
    ChangeKey and a ModifiedEvent, nothing else."""
    if method != "POST":
        return _json(405, {"error": "POST an attendee's response"})
    store = emu.store
    address = str(body.get("attendee", "")).strip().lower()
    response = str(body.get("response", "Accept"))
    if response not in RESPONSE_TYPES:
        return _json(400, {"error": f"response must be one of {', '.join(sorted(RESPONSE_TYPES))}"})
    with store.lock:
        mb = store.mailbox(email)
        item = (mb or {}).get("items", {}).get(str(body.get("item_id", "")))
        if item is None or item["kind"] != "CalendarItem":
            return _json(404, {"error": "no such calendar item"})
        attendee = None
        for name in ("RequiredAttendees", "OptionalAttendees", "Resources"):
            container = item["fields"].get(name)
            for el in (container if container is not None else []):
                mail = child(child(el, "Mailbox"), "EmailAddress") if child(el, "Mailbox") is not None else None
                if mail is not None and (mail.text or "").strip().lower() == address:
                    attendee = el
        if attendee is None:
            return _json(404, {"error": "no such attendee"})
        for name in ("ResponseType", "LastResponseTime"):
            old = child(attendee, name)
            if old is not None:
                attendee.remove(old)
        mailbox_el = child(attendee, "Mailbox")
        mailbox_el.addnext(leaf("ResponseType", response))
        mailbox_el.getnext().addnext(leaf("LastResponseTime", now_iso()))
        item["change"] = store.next_change()
        item["content_change"] = item["change"]
        item["modified"] = now_iso()
        store.item_modified(mb, item)
        store.flush()
        return _json(200, {"attendee": address, "response": response})


SUBSCRIPTION_SETTINGS = {"streaming_expiry_seconds": float, "heartbeat_seconds": float, "queue_limit": int,
                         "mailbox_subscription_limit": int}


def _subscriptions(emu, method, rest, body, environ):
    """GET lists subscriptions (?mailbox=); POST expire {"mailbox"?} expires them now; POST settings changes the
    streaming expiry delay, the heartbeat interval, the per-subscription queue limit and the per-mailbox
    subscription limit (tests shorten them)."""
    registry = emu.subscriptions
    if not rest and method == "GET":
        mailbox = (parse_qs(environ.get("QUERY_STRING", "")).get("mailbox") or [""])[0].lower() or None
        return _json(200, {"subscriptions": registry.listing(mailbox)})
    if rest == ["expire"] and method == "POST":
        mailbox = body.get("mailbox")
        if mailbox is not None and not isinstance(mailbox, str):
            return _json(400, {"error": "'mailbox' must be an e-mail address; leave it out to expire every "
                                        "subscription."})
        return _json(200, {"expired": registry.expire(mailbox.lower() if mailbox else None)})
    if rest == ["settings"] and method in ("GET", "POST"):
        unknown = set(body) - set(SUBSCRIPTION_SETTINGS)
        if unknown:
            return _json(400, {"error": f"unknown settings {sorted(unknown)}; expected some of "
                                        f"{sorted(SUBSCRIPTION_SETTINGS)}."})
        try:
            values = {name: SUBSCRIPTION_SETTINGS[name](value) for name, value in body.items()}
        except (TypeError, ValueError):
            return _json(400, {"error": "every setting must be a positive number."})
        if any(v <= 0 for v in values.values()):
            return _json(400, {"error": "every setting must be a positive number."})
        with registry.cond:
            for name, value in values.items():
                setattr(registry, name, value)
            registry.cond.notify_all()
            return _json(200, {name: getattr(registry, name) for name in SUBSCRIPTION_SETTINGS})
    return _json(404, {"error": "unknown control endpoint"})
