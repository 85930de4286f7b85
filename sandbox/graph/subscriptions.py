"""Change notification subscriptions, as Microsoft Graph documents them (the subscription resource type, webhook
validation, lifecycle notifications), for what the product syncs: a user's contacts
(``users/{id}/contacts``, ``users/{id}/contactFolders/{id}/contacts``), events (``users/{id}/events``,
``users/{id}/calendar/events``) and To Do tasks (``users/{id}/todo/lists/{id}/tasks``).

    POST   /v1.0/subscriptions                    {changeType, notificationUrl, lifecycleNotificationUrl?, resource,
                                                    expirationDateTime, clientState?, latestSupportedTlsVersion?}
                                                   → validation handshake on each URL, then 201 {subscription}
    GET    /v1.0/subscriptions                    → {"value": [...]}
    GET    /v1.0/subscriptions/{id}               PATCH {expirationDateTime?, notificationUrl?} renews, DELETE → 204
    POST   /v1.0/subscriptions/{id}/reauthorize   → 204

Graph requires https notification URLs; the sandbox also accepts http for loopback hosts (127.0.0.0/8, ::1,
localhost) only, so that a web app or a test's receiver on this machine can take notifications without a
certificate. Expiration is at most 4230 minutes ahead (Graph's limit for Outlook resources and To Do tasks).

Changes are found in one place: the store calls :meth:`Subscriptions.on_flush` with the mailboxes a request
changed, whatever route changed them (REST, $batch, the control API), and each watched mailbox is compared with
its snapshot (id → version and folder or list). A move is a deletion and a creation, as Exchange gives the moved
item a new id. Unlike Graph, lifecycle notifications go to notificationUrl when no lifecycleNotificationUrl was
given, so a receiver without one still learns of them in the sandbox.
"""

import ipaddress
import json
import re
import secrets
import threading
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sandbox.graph.errors import GraphError, bad_request
from sandbox.graph.ids import change_key, etag
from sandbox.graph.notifications import Deliveries, validate_endpoint
from sandbox.graph.odata import parse_datetime
from sandbox.graph.store import atomic_write

MAX_MINUTES = 4230
MAX_CLIENT_STATE = 128
CHANGE_TYPES = ("created", "updated", "deleted")
TLS_VERSIONS = ("v1_0", "v1_1", "v1_2", "v1_3")
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
WRITABLE = {"changeType", "notificationUrl", "lifecycleNotificationUrl", "resource", "expirationDateTime",
            "clientState", "latestSupportedTlsVersion", "includeResourceData", "notificationQueryOptions"}
# (pattern, collection watched); a second group names the contact folder or To Do list
RESOURCES = [
    (re.compile(r"^users/([^/]+)/contacts$", re.I), "contacts"),
    (re.compile(r"^users/([^/]+)/contactFolders/([^/]+)/contacts$", re.I), "contacts"),
    (re.compile(r"^users/([^/]+)/(?:calendar/)?events$", re.I), "events"),
    (re.compile(r"^users/([^/]+)/todo/lists/([^/]+)/tasks$", re.I), "tasks"),
]
ROLES = {"contacts": {"Contacts.Read", "Contacts.ReadWrite"}, "events": {"Calendars.Read", "Calendars.ReadWrite"},
         "tasks": {"Tasks.Read.All", "Tasks.ReadWrite.All"}}
ODATA_TYPES = {"contacts": "#Microsoft.Graph.Contact", "events": "#Microsoft.Graph.Event",
               "tasks": "#microsoft.graph.todoTask"}
WATCHED = {"contacts": "folder", "events": None, "tasks": "list"}  # collection → the record key that scopes it


def graph_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond:06d}0Z"


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url, name: str) -> str:
    if not isinstance(url, str) or not url:
        raise bad_request(f"The subscription's {name} is required; give the https URL that receives notifications.",
                          "InvalidRequest")
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and is_loopback_host(parts.hostname):
        return url
    raise bad_request(f"The {name} '{url}' is not valid: Microsoft Graph sends notifications to https URLs only (the "
                      "sandbox also accepts http on this machine's loopback address).", "InvalidRequest")


def snapshot(mb: dict) -> dict:
    """What a watched mailbox holds: {collection: {id: (version, folder or list)}}."""
    return {c: {i: (r["version"], r.get(key) if key else None) for i, r in mb[c].items()}
            for c, key in WATCHED.items()}


class Subscriptions:
    def __init__(self, emu, settings: dict | None = None):
        self.emu = emu
        self.path = emu.data_dir / "subscriptions.json"
        self.lock = threading.RLock()  # taken after the store's lock, never before it
        self.items: dict[str, dict] = {}
        self.snapshots: dict[str, dict] = {}  # upn → snapshot, for mailboxes with subscriptions
        self.deliveries = Deliveries(self.alive, settings)
        if self.path.exists():
            self.items = json.loads(self.path.read_text(encoding="utf-8"))
        with emu.store.lock, self.lock:
            for sub in self.items.values():
                mb = emu.store.mailboxes.get(sub["mailbox"])
                if mb is not None:
                    self.snapshots[sub["mailbox"]] = snapshot(mb)
        emu.store.on_flush = self.on_flush

    # ---- registry ----------------------------------------------------------------------------------------------
    def _save(self) -> None:
        atomic_write(self.path, json.dumps(self.items, ensure_ascii=False))

    def alive(self, subscription_id: str) -> bool:
        with self.lock:
            sub = self.items.get(subscription_id)
            return sub is not None and parse_datetime(sub["expirationDateTime"]) > datetime.now(UTC)

    def purge_expired(self) -> list[str]:
        """Removes subscriptions past their expiration; Graph sends nothing for them any more."""
        now = datetime.now(UTC)
        with self.lock:
            gone = [i for i, s in self.items.items() if parse_datetime(s["expirationDateTime"]) <= now]
            for i in gone:
                self._remove(i)
            return gone

    def _remove(self, subscription_id: str) -> dict | None:
        with self.lock:
            sub = self.items.pop(subscription_id, None)
            if sub is not None:
                if not any(s["mailbox"] == sub["mailbox"] for s in self.items.values()):
                    self.snapshots.pop(sub["mailbox"], None)
                self._save()
            return sub

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.snapshots.clear()
            self._save()
        self.deliveries.clear()

    def listing(self) -> list[dict]:
        """For the control API: every subscription with its mailbox and delivery counts."""
        self.purge_expired()
        with self.lock:
            subs = [dict(s) for s in self.items.values()]
        return [{**self.public(s), "mailbox": s["mailbox"], "reauthorizationRequired": s.get("reauthorize", False),
                 **self.deliveries.counters(s["id"]), "pending": self.deliveries.pending(s["id"])} for s in subs]

    @staticmethod
    def public(sub: dict) -> dict:
        return {k: sub[k] for k in ("id", "resource", "applicationId", "changeType", "clientState", "notificationUrl",
                                    "notificationQueryOptions", "lifecycleNotificationUrl", "expirationDateTime",
                                    "creatorId", "includeResourceData", "latestSupportedTlsVersion",
                                    "encryptionCertificate", "encryptionCertificateId", "notificationUrlAppId")}

    # ---- the REST API ------------------------------------------------------------------------------------------
    def handle(self, method: str, rest: list[str], body, claims: dict, base: str):
        """One /v1.0/subscriptions request: (status, JSON body or None)."""
        self.purge_expired()
        context = f"{base}/v1.0/$metadata#subscriptions"
        if not rest:
            if method == "GET":
                with self.lock:
                    subs = [self.public(s) for s in self.items.values() if s["applicationId"] == claims.get("appid")]
                return 200, {"@odata.context": context, "value": subs}
            if method == "POST":
                return 201, {"@odata.context": f"{context}/$entity", **self.create(body, claims)}
        elif len(rest) == 1:
            if method == "GET":
                return 200, {"@odata.context": f"{context}/$entity", **self.public(self._get(rest[0], claims))}
            if method == "PATCH":
                return 200, {"@odata.context": f"{context}/$entity", **self.renew(rest[0], body, claims)}
            if method == "DELETE":
                self._get(rest[0], claims)
                self._remove(rest[0])
                return 204, None
        elif len(rest) == 2 and rest[1].lower() in ("reauthorize", "microsoft.graph.reauthorize") and method == "POST":
            with self.lock:
                self._get(rest[0], claims)["reauthorize"] = False
                self._save()
            return 204, None
        raise GraphError(405, "BadRequest", f"The method {method} is not supported on this subscriptions resource.")

    def _get(self, subscription_id: str, claims: dict) -> dict:
        with self.lock:
            sub = self.items.get(subscription_id)
            if sub is None or sub["applicationId"] != claims.get("appid"):
                raise GraphError(404, "ResourceNotFound",
                                 f"The subscription '{subscription_id}' does not exist: it expired, was deleted or "
                                 "was removed. Create a new subscription.")
            return sub

    def _expiration(self, value) -> str:
        try:
            when = parse_datetime(value) if isinstance(value, str) else None
        except ValueError:
            when = None
        if when is None:
            raise bad_request("The subscription's expirationDateTime is required as an ISO 8601 date-time in UTC, "
                              "for example 2026-01-01T12:00:00Z.", "InvalidRequest")
        now = datetime.now(UTC)
        if when <= now:
            raise bad_request("Subscription expiration date must be in the future; give an expirationDateTime "
                              f"within the next {MAX_MINUTES} minutes.", "InvalidRequest")
        if when > now + timedelta(minutes=MAX_MINUTES):
            raise bad_request(f"Subscription expiration can only be {MAX_MINUTES} minutes in the future.",
                              "ExtensionError")
        return graph_time(when)

    def _resource(self, resource) -> tuple[dict, str, str | None, str]:
        """(mailbox, collection, folder or list id, normalised resource) for a resource the sandbox watches."""
        text = resource.strip().strip("/") if isinstance(resource, str) else ""
        found = next(((pattern.match(text), collection) for pattern, collection in RESOURCES if pattern.match(text)),
                     None)
        if found is None:
            raise bad_request(f"The resource '{resource}' is not supported for change notifications by the sandbox; "
                              "subscribe to users/{id}/contacts, users/{id}/contactFolders/{id}/contacts, "
                              "users/{id}/events, users/{id}/calendar/events or users/{id}/todo/lists/{id}/tasks.",
                              "InvalidRequest")
        m, collection = found
        store = self.emu.store
        with store.lock:
            mb = store.mailbox(m.group(1))
            if mb is None:
                raise GraphError(404, "ErrorInvalidUser", f"The requested user '{m.group(1)}' is invalid.")
            container = m.group(2) if m.lastindex and m.lastindex > 1 else None
            if collection == "contacts" and container is None:
                container = next(f["id"] for f in mb["contact_folders"].values() if f.get("default"))
            elif collection == "contacts" and container not in mb["contact_folders"]:
                raise GraphError(404, "ErrorItemNotFound", "The specified folder could not be found in the store.")
            elif collection == "tasks" and container not in mb["todo_lists"]:
                raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.")
        return mb, collection, container, text

    def create(self, body, claims: dict) -> dict:
        if not isinstance(body, dict):
            raise bad_request("Empty Payload. JSON content expected.")
        unknown = sorted(set(body) - WRITABLE - {"@odata.type"})
        if unknown:
            raise bad_request(f"The property '{unknown[0]}' does not exist on type 'microsoft.graph.subscription'. "
                              "Make sure to only use property names that are defined by the type.", "RequestBodyRead")
        raw_types = body.get("changeType")
        types = [t.strip() for t in raw_types.split(",")] if isinstance(raw_types, str) else []
        if not types or any(t not in CHANGE_TYPES for t in types):
            raise bad_request(f"The changeType '{raw_types}' is not valid: give created, updated or deleted, or "
                              "several of them separated by commas.", "InvalidRequest")
        url = check_url(body.get("notificationUrl"), "notificationUrl")
        lifecycle_url = body.get("lifecycleNotificationUrl")
        if lifecycle_url is not None:
            lifecycle_url = check_url(lifecycle_url, "lifecycleNotificationUrl")
        expiration = self._expiration(body.get("expirationDateTime"))
        client_state = body.get("clientState")
        if client_state is not None and (not isinstance(client_state, str) or len(client_state) > MAX_CLIENT_STATE):
            raise bad_request(f"The clientState must be a string of at most {MAX_CLIENT_STATE} characters.",
                              "InvalidRequest")
        tls = body.get("latestSupportedTlsVersion") or "v1_2"
        if tls not in TLS_VERSIONS:
            raise bad_request(f"The latestSupportedTlsVersion '{tls}' is not valid: give one of "
                              f"{', '.join(TLS_VERSIONS)}.", "InvalidRequest")
        if body.get("includeResourceData"):
            raise bad_request("The sandbox does not send rich notifications (includeResourceData); subscribe without "
                              "it and read the changed items with their id.", "InvalidRequest")
        mb, collection, container, resource = self._resource(body.get("resource"))
        if not ROLES[collection] & set(claims.get("roles") or []):
            raise GraphError(403, "ExtensionError", "Operation: Create; Exception: [Status Code: Forbidden; Reason: "
                                                    "The app has no application permission for this resource; grant "
                                                    f"one of {', '.join(sorted(ROLES[collection]))}.]")
        # The handshake waits for the receiver; no lock is held meanwhile, so the receiver may call the emulator.
        for endpoint in dict.fromkeys(u for u in (url, lifecycle_url) if u):
            self.deliveries.count("validation")
            problem = validate_endpoint(endpoint, secrets.token_urlsafe(24))
            if problem:
                raise bad_request(problem, "InvalidRequest")
        sub = {"id": str(uuid.uuid4()), "resource": resource, "applicationId": claims.get("appid"),
               "changeType": ",".join(types), "clientState": client_state, "notificationUrl": url,
               "notificationQueryOptions": None, "lifecycleNotificationUrl": lifecycle_url,
               "expirationDateTime": expiration, "creatorId": claims.get("oid"), "includeResourceData": None,
               "latestSupportedTlsVersion": tls, "encryptionCertificate": None, "encryptionCertificateId": None,
               "notificationUrlAppId": None, "mailbox": mb["upn"], "user_id": mb["user_id"],
               "collection": collection, "container": container, "tenantId": claims.get("tid")}
        with self.emu.store.lock, self.lock:
            current = self.emu.store.mailboxes.get(mb["upn"])
            if current is not None and mb["upn"] not in self.snapshots:
                self.snapshots[mb["upn"]] = snapshot(current)
            self.items[sub["id"]] = sub
            self._save()
        return self.public(sub)

    def renew(self, subscription_id: str, body, claims: dict) -> dict:
        if not isinstance(body, dict) or not body:
            raise bad_request("Empty Payload. JSON content expected.")
        unknown = sorted(set(body) - {"expirationDateTime", "notificationUrl", "@odata.type"})
        if unknown:
            raise bad_request(f"The subscription's '{unknown[0]}' cannot be changed; only expirationDateTime and "
                              "notificationUrl can. Delete the subscription and create a new one instead.",
                              "InvalidRequest")
        self._get(subscription_id, claims)
        changes = {}
        if "expirationDateTime" in body:
            changes["expirationDateTime"] = self._expiration(body["expirationDateTime"])
        if "notificationUrl" in body:
            changes["notificationUrl"] = check_url(body["notificationUrl"], "notificationUrl")
            self.deliveries.count("validation")
            problem = validate_endpoint(changes["notificationUrl"], secrets.token_urlsafe(24))
            if problem:
                raise bad_request(problem, "InvalidRequest")
        with self.lock:
            sub = self._get(subscription_id, claims)
            sub.update(changes, reauthorize=False)
            self._save()
            return self.public(sub)

    # ---- changes -----------------------------------------------------------------------------------------------
    def on_flush(self, dirty: set[str]) -> None:
        """Called by the store, under its lock, with the mailboxes a request changed. Only queues: the background
        thread does the sending."""
        with self.lock:
            watched = [u for u in dirty if u in self.snapshots]
            if not watched:
                return
            self.purge_expired()
            now = datetime.now(UTC)
            for upn in watched:
                if upn not in self.snapshots:  # its last subscription just expired
                    continue
                mb = self.emu.store.mailboxes.get(upn)
                before, after = self.snapshots[upn], snapshot(mb) if mb is not None else None
                if after is None:
                    self.snapshots.pop(upn)
                    continue
                self.snapshots[upn] = after
                for sub in [s for s in self.items.values() if s["mailbox"] == upn]:
                    if parse_datetime(sub["expirationDateTime"]) <= now:
                        continue
                    for change, item_id in self._changes(sub, before[sub["collection"]], after[sub["collection"]]):
                        self._notify(sub, change, item_id, after[sub["collection"]].get(item_id))

    @staticmethod
    def _changes(sub: dict, before: dict, after: dict):
        container, wanted = sub["container"], set(sub["changeType"].split(","))

        def inside(entries, i):
            return i in entries and (container is None or entries[i][1] == container)

        for i in after:
            if inside(after, i) and not inside(before, i) and "created" in wanted:
                yield "created", i
            elif inside(after, i) and inside(before, i) and after[i][0] != before[i][0] and "updated" in wanted:
                yield "updated", i
        for i in before:
            if inside(before, i) and not inside(after, i) and "deleted" in wanted:
                yield "deleted", i

    def _notify(self, sub: dict, change: str, item_id: str, entry) -> None:
        collection = sub["collection"]
        if collection == "contacts":
            resource = f"Users/{sub['user_id']}/Contacts/{item_id}"
        elif collection == "events":
            resource = f"Users/{sub['user_id']}/Events/{item_id}"
        else:
            resource = f"Users/{sub['user_id']}/todo/lists/{sub['container']}/tasks/{item_id}"
        data = {"@odata.type": ODATA_TYPES[collection], "@odata.id": resource, "id": item_id}
        if entry is not None:
            data["@odata.etag"] = etag(change_key(item_id, entry[0]))
        self.deliveries.enqueue(sub["notificationUrl"], sub["id"], {
            "subscriptionId": sub["id"], "subscriptionExpirationDateTime": sub["expirationDateTime"],
            "changeType": change, "resource": resource, "resourceData": data, "clientState": sub["clientState"],
            "tenantId": sub["tenantId"]}, kind="change")

    # ---- lifecycle and expiry (the control API) ----------------------------------------------------------------
    def _select(self, subscription_id: str | None, mailbox: str | None) -> list[dict]:
        with self.lock:
            subs = list(self.items.values())
        if subscription_id:
            subs = [s for s in subs if s["id"] == subscription_id]
        if mailbox:
            subs = [s for s in subs if mailbox.lower() in (s["mailbox"], s["user_id"])]
        return subs

    def lifecycle(self, event: str, subscription_id: str | None = None, mailbox: str | None = None) -> list[str]:
        """Sends ``event`` for the chosen subscriptions (all by default); subscriptionRemoved also removes them."""
        self.purge_expired()
        subs = self._select(subscription_id, mailbox)
        for sub in subs:
            if event == "reauthorizationRequired":
                with self.lock:
                    sub["reauthorize"] = True
                    self._save()
            elif event == "subscriptionRemoved":
                self._remove(sub["id"])
            self.deliveries.enqueue(sub["lifecycleNotificationUrl"] or sub["notificationUrl"], sub["id"], {
                "subscriptionId": sub["id"], "subscriptionExpirationDateTime": sub["expirationDateTime"],
                "tenantId": sub["tenantId"], "clientState": sub["clientState"], "lifecycleEvent": event},
                kind="lifecycle", after_removal=event == "subscriptionRemoved")
        return [s["id"] for s in subs]

    def expire_now(self, subscription_id: str | None = None, mailbox: str | None = None) -> list[str]:
        subs = self._select(subscription_id, mailbox)
        for sub in subs:
            self._remove(sub["id"])
        return [s["id"] for s in subs]
