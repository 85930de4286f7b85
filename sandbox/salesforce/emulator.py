"""The Salesforce emulator: state, clock, users, and the WSGI entry point that routes to auth, REST and control."""

import datetime as dt
import logging
import threading
import time
from collections import Counter
from pathlib import Path

from werkzeug.wrappers import Request, Response

from sandbox.salesforce import ids, schema, seed
from sandbox.salesforce.access import PROFILES
from sandbox.salesforce.auth import Auth
from sandbox.salesforce.control import Control
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.http import json_response
from sandbox.salesforce.rest import Rest
from sandbox.salesforce.store import Store
from sandbox.salesforce.values import format_datetime

logging.getLogger("werkzeug").setLevel(logging.WARNING)

DEFAULTS = {"api_allocation": 15000, "session_lifetime_seconds": 7200, "clock_offset_seconds": 0.0}
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class SalesforceEmulator:
    def __init__(self, data_dir: Path, hub=None):
        self.data_dir, self.hub = Path(data_dir), hub
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.store = Store(self.data_dir / "salesforce.sqlite3")
        self._sequences: dict[str, int] = {}
        self.faults: list[dict] = []
        self.calls: Counter = Counter()
        self.calls_by_user: Counter = Counter()
        self.auth = Auth(self)
        self.rest = Rest(self)
        self.control = Control(self)
        with self.lock:
            if not self.store.get_kv("org_id"):
                self._init_org()
        self.auth.ensure_connected_app()

    # -- org ---------------------------------------------------------------------------------------
    def _init_org(self) -> None:
        org15 = "00D8d0000001" + "SbX"
        self.store.set_kv("org_id", org15 + ids.checksum(org15))
        self.store.set_kv("org_created", format_datetime(self.now()))
        organization = self._system_record("Organization", {
            "Name": "Sandbox Org", "IsSandbox": True, "OrganizationType": "Developer Edition", "InstanceName": "SBX1"},
            None)
        organization.update(Id=self.org_id, CreatedById=organization["Id"], LastModifiedById=organization["Id"])
        self.store.save([("Organization", organization)])
        profiles = []
        for name, spec in PROFILES.items():
            profiles.append(("Profile", self._system_record("Profile", {
                "Name": name, "UserType": "Standard", "Description": spec["description"]}, None)))
        self.store.save(profiles)

    @property
    def org_id(self) -> str:
        return self.store.get_kv("org_id")

    def setting(self, name: str):
        return self.store.get_kv(f"setting:{name}", DEFAULTS[name])

    def now(self) -> dt.datetime:
        offset = float(self.setting("clock_offset_seconds"))
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)

    def new_id(self, sobject: str) -> str:
        with self.lock:
            if sobject not in self._sequences:
                highest = 0
                for record_id in (record["Id"] for record in self.store.of_type(sobject)):
                    number = 0
                    for char in record_id[5:15]:
                        number = number * 62 + _BASE62.index(char)
                    highest = max(highest, number)
                self._sequences[sobject] = highest
            self._sequences[sobject] += 1
            return ids.make_id(sobject, self._sequences[sobject])

    def _system_record(self, sobject: str, values: dict, creator: str | None) -> dict:
        obj = schema.OBJECTS[sobject]
        record = {name: f.default if f.default is not None else (False if f.type == "boolean" else None)
                  for name, f in obj.fields.items()}
        record.update(values)
        stamp = format_datetime(self.now())
        record_id = self.new_id(sobject)
        creator = creator or record_id
        record.update(Id=record_id, IsDeleted=False, CreatedDate=stamp, LastModifiedDate=stamp,
                      SystemModstamp=stamp, CreatedById=creator, LastModifiedById=creator)
        return record

    def profile_by_name(self, name: str) -> dict | None:
        for profile in self.store.of_type("Profile"):
            if profile["Name"].lower() == str(name).lower():
                return profile
        return None

    def user_by_username(self, username: str) -> dict | None:
        for user in self.store.of_type("User"):
            if user["Username"].lower() == str(username).lower():
                return user
        return None

    # -- the hub's interface ---------------------------------------------------------------------
    def create_user(self, *, username, email, first_name, last_name, profile, time_zone=None) -> str:
        with self.lock:
            if not username or not last_name or not email:
                raise ValueError("username, email and last_name are required")
            if self.user_by_username(username):
                raise ValueError(f"DUPLICATE_USERNAME: a user named {username} already exists")
            profile_record = self.profile_by_name(profile)
            if profile_record is None:
                raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
            alias = ((first_name or "")[:1] + last_name)[:8].lower()
            users = self.store.of_type("User")
            creator = users[0]["Id"] if users else None
            record = self._system_record("User", {
                "Username": username, "Email": email, "FirstName": first_name or None, "LastName": last_name,
                "Name": " ".join(p for p in (first_name, last_name) if p), "Alias": alias,
                "ProfileId": profile_record["Id"], "IsActive": True, "CompanyName": "Sandbox Org",
            }, creator)
            # Salesforce asks a new user's time zone (TimeZoneSidKey); the sandbox's default is the org's, GMT.
            if time_zone:
                if time_zone not in schema.TIME_ZONES:
                    raise ValueError(f"unknown time zone {time_zone!r}; expected one of {', '.join(schema.TIME_ZONES)}")
                record["TimeZoneSidKey"] = time_zone
            self.store.save([("User", record)])
            return record["Id"]

    def reset(self) -> None:
        with self.lock:
            keep = tuple(key for key in self.store.kv if key.startswith("connected_app"))
            self.store.wipe(keep_kv=keep)
            self._sequences.clear()
            self.faults.clear()
            self.calls.clear()
            self.calls_by_user.clear()
            self.rest.cursors.clear()
            self._init_org()

    def seed_demo(self) -> None:
        with self.lock:
            seed.seed_demo(self)

    # -- API usage -------------------------------------------------------------------------------
    def api_usage(self) -> tuple[int, int]:
        usage = self.store.get_kv("api_usage") or {"window_start": self.now().timestamp(), "count": 0}
        if self.now().timestamp() - usage["window_start"] >= 86400:
            return 0, int(self.setting("api_allocation"))
        return int(usage["count"]), int(self.setting("api_allocation"))

    def count_api_call(self) -> None:
        with self.lock:
            usage = self.store.get_kv("api_usage") or {"window_start": self.now().timestamp(), "count": 0}
            if self.now().timestamp() - usage["window_start"] >= 86400:
                usage = {"window_start": self.now().timestamp(), "count": 0}
            usage["count"] += 1
            self.store.set_kv("api_usage", usage)

    def limit_header(self) -> tuple[str, str]:
        used, allocation = self.api_usage()
        return "Sforce-Limit-Info", f"api-usage={used}/{allocation}"

    # -- WSGI --------------------------------------------------------------------------------------
    def wsgi_app(self, environ, start_response):
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except ApiError as exc:
            response = json_response(exc.body(), exc.status, exc.headers)
        except Exception:  # never a traceback to the client: an UNKNOWN_EXCEPTION as Salesforce answers
            logging.getLogger(__name__).exception("unexpected error in the Salesforce emulator")
            response = json_response([{"message": "An unexpected error occurred. Please include this ErrorId if "
                                       "you contact support: 0-0 (sandbox)", "errorCode": "UNKNOWN_EXCEPTION"}], 500)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/_sandbox/"):
            return self.control.handle(request)
        fault = self.control.take_fault(request)
        if fault is not None and fault.get("latency_ms"):
            time.sleep(float(fault["latency_ms"]) / 1000.0)
        if path.startswith("/services/oauth2/") or path.startswith("/services/Soap/u/"):
            self.calls[f"{request.method} {self.auth.pattern(path)}"] += 1
            if fault is not None and fault.get("status"):
                return self.control.fault_response(fault, request, None)
            return self.auth.handle(request)
        if path.startswith("/id/"):
            return self.auth.identity(request)
        return self.rest.handle(request, fault)

