"""Salesforce as one synced user sees it: the client a run holds, which hands out the per-object sides and answers
object permissions, the user's identity, the org's active users (for ``import_users``) and its API usage."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
from simple_salesforce.format import quote_soql_value

from sync.connectors.base import CallCounter, ObjectOptions, PermanentError, SalesforceSettings, TransientError
from sync.connectors.salesforce.auth import TOKENS, AccessToken, TokenCache, request_token, token_key
from sync.connectors.salesforce.errors import classify_call_error, first_error, missing_permission, network_error
from sync.connectors.salesforce.side import SalesforceSide
from sync.connectors.salesforce.transport import SalesforceSession
from sync.engine.records import SyncObject
from sync.mappings import salesforce as mapping

T = TypeVar("T")

USER_FIELDS = "Id, Username, Email, Name, Profile.Name, IsActive, TimeZoneSidKey"


@dataclass(frozen=True)
class ObjectPermissions:
    read: bool
    create: bool
    edit: bool
    delete: bool


@dataclass(frozen=True)
class SalesforceUser:
    id: str
    username: str
    email: str
    name: str
    profile: str | None
    active: bool
    time_zone: str | None = None  # TimeZoneSidKey: an IANA name ("Europe/Paris")


class SalesforceClient:
    """Salesforce as one user sees it (JWT bearer token with ``sub`` = `username`).

    For ``import_users`` construct it with the connection's integration user (pre-authorised for the connected
    app, with read access to users) and call `list_active_users`. Not thread-safe: one client per run.
    """

    def __init__(self, settings: SalesforceSettings, username: str, *, tokens: TokenCache | None = None):
        self.settings = settings
        self.username = username
        self.calls = CallCounter()
        self._tokens = tokens if tokens is not None else TOKENS
        self._key = token_key(settings, username)
        self._session = SalesforceSession(settings, self.calls)
        self._api: Salesforce | None = None
        self._token: AccessToken | None = None
        self._permissions: dict[str, ObjectPermissions] = {}

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> SalesforceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------------------
    def _connection(self) -> Salesforce:
        if self._api is None:
            token = self._tokens.get(self._key, lambda: request_token(self.settings, self.username, self._session))
            self._token = token
            self._api = Salesforce(instance_url=token.instance_url, session_id=token.access_token,
                                   session=self._session, version=self.settings.api_version)
        return self._api

    def call(self, what: str, operation: Callable[[Salesforce], T]) -> T:
        """Run `operation` with a session, renewing the token once on INVALID_SESSION_ID, and classify errors."""
        for attempt in (1, 2):
            api = self._connection()
            try:
                return operation(api)
            except SalesforceExpiredSession as exc:
                self._tokens.invalidate(self._key, api.session_id)
                self._api = None
                if attempt == 2:
                    code, message = first_error(exc.content)
                    raise TransientError(code or "INVALID_SESSION_ID",
                                         f"Salesforce refused a newly issued session: {message}") from exc
            except SalesforceError as exc:
                raise classify_call_error(exc, self.username, what) from exc
            except requests.RequestException as exc:
                raise network_error(exc, self.settings.login_url) from exc
            except ValueError as exc:  # a body that is not JSON: a proxy's error page, a truncated answer
                raise TransientError("UNEXPECTED_RESPONSE", f"Salesforce's answer could not be read: {exc}") from exc
        raise AssertionError("unreachable")

    def query(self, soql: str, *, include_deleted: bool = False, what: str = "query") -> list[dict]:
        """Every row of a SOQL query (``query``/``queryAll`` then ``nextRecordsUrl`` pages of up to 2,000)."""
        return self.call(what, lambda api: list(api.query_all_iter(soql, include_deleted=include_deleted)))

    # -- public --------------------------------------------------------------------------------------------
    def side(self, object_type: SyncObject | str, options: ObjectOptions | None = None) -> SalesforceSide:
        """The engine's SideConnector for one object of this user."""
        return SalesforceSide(self, SyncObject(object_type), options or ObjectOptions())

    def permissions(self, object_type: SyncObject | str) -> ObjectPermissions:
        """What the user may do with an object (the describe flags), cached for the client's life."""
        name = mapping.sobject_name(object_type)
        if name not in self._permissions:
            try:
                body = self.call(name, lambda api: api.restful(f"sobjects/{name}/"))
            except PermanentError as exc:
                if exc.code != "NOT_FOUND":
                    raise
                body = None  # an object the user cannot read is not found at all
            entry = (body or {}).get("objectDescribe", {}) if isinstance(body, Mapping) else {}
            self._permissions[name] = ObjectPermissions(
                read=bool(entry.get("queryable")), create=bool(entry.get("createable")),
                edit=bool(entry.get("updateable")), delete=bool(entry.get("deletable")))
        return self._permissions[name]

    def require(self, object_type: SyncObject | str, *needed: str) -> None:
        """Raise NeedsAttention naming every missing permission of read + `needed` (create, edit, delete)."""
        granted = self.permissions(object_type)
        missing = [p for p in dict.fromkeys(("read", *needed)) if not getattr(granted, p)]
        if missing:
            raise missing_permission(self.username, mapping.sobject_name(object_type), *missing)

    def user_info(self) -> SalesforceUser:
        """This client's own Salesforce user."""
        self._connection()
        assert self._token is not None
        condition = (f"Id = {quote_soql_value(self._token.user_id)}" if self._token.user_id
                     else f"Username = {quote_soql_value(self.username)}")
        rows = self.query(f"SELECT {USER_FIELDS} FROM User WHERE {condition}", what="User")  # noqa: S608
        if not rows:
            raise PermanentError("NOT_FOUND", f"Salesforce has no user {self.username}")
        return _user(rows[0])

    def list_active_users(self) -> list[SalesforceUser]:
        """Active standard users of the org, by username (for ``import_users``)."""
        rows = self.query(f"SELECT {USER_FIELDS} FROM User WHERE IsActive = true AND UserType = 'Standard' "  # noqa: S608
                          "ORDER BY Username", what="User")
        return [_user(row) for row in rows]

    def api_usage(self) -> tuple[int, int] | None:
        """(used, allocation) of the org's daily API requests, from the last ``Sforce-Limit-Info`` header."""
        return self._session.limit_info

    @property
    def server_time(self) -> datetime | None:
        """Salesforce's clock at the last response (its ``Date`` header)."""
        return self._session.server_time


def _user(row: Mapping[str, Any]) -> SalesforceUser:
    profile = row.get("Profile")
    return SalesforceUser(id=row["Id"], username=row.get("Username") or "", email=row.get("Email") or "",
                          name=row.get("Name") or "", profile=profile.get("Name") if isinstance(profile, Mapping)
                          else None, active=bool(row.get("IsActive")), time_zone=row.get("TimeZoneSidKey"))
