"""What the record explorer reads (see sync.explorer): one request's context (the user's data setting and data set,
the connectors' options, the two ends opened lazily, each read guarded so that one end's failure becomes a note), the
search of both ends by id, e-mail, name or subject, and the records as the explorer shows them. Reads only."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import Q
from django.utils import timezone

from configurations.models import Direction, SyncObject
from configurations.soql import DataSetError, escape_string
from sync import engine
from sync.connections import mailbox_route
from sync.connectors.base import INTERACTIVE_SECONDS, ConnectorError, ObjectOptions, TransientError
from sync.connectors.exchange import DEFAULT_WINDOW, parse_instant
from sync.connectors.salesforce.soql import is_record_id
from sync.error_words import describe_error
from sync.mappings.salesforce_ids import id18
from sync.models import LinkState, RecordError, RecordLink
from sync.options import object_options
from sync.runner import Clients, build_clients
from users.models import SyncUser
from users.services import effective_configuration

T = TypeVar("T")

SEARCH_LIMIT = 20  # records per end a search shows
MAX_QUERY = 100

SF, OL = engine.Side.SALESFORCE, engine.Side.OUTLOOK
END_NAMES = {SF: "Salesforce", OL: "Outlook"}
OBJECT_WORDS = {"contacts": ("contact", "contacts"), "events": ("event", "events"), "tasks": ("task", "tasks")}


class ExplorerInputError(ValueError):
    """A request the explorer cannot answer (unknown object, nothing to look for): the field and a sentence."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


@dataclass
class Found:
    """One record read from one end, as the explorer shows it."""

    side: engine.Side
    record: engine.SideRecord

    @property
    def id(self) -> str:
        return self.record.id

    def as_dict(self, object_type: str) -> dict:
        fields = self.record.fields
        shown = {key: _plain(fields.get(key)) for key in _SHOWN[object_type] if fields.get(key) not in (None, "")}
        out = {"id": self.record.id, "name": record_name(object_type, fields), "version": self.record.version,
               "in_scope": self.record.in_scope, "fields": shown}
        if self.side is OL:
            out["salesforce_id_stamp"] = self.record.salesforce_id
        return out


_SHOWN = {
    "contacts": ("first_name", "last_name", "email", "company"),
    "events": ("subject", "start", "end", "is_all_day", "is_private", "recurrence"),
    "tasks": ("subject", "due_date", "status"),
}


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def record_name(object_type: str, fields: dict) -> str:
    """A record's name as people say it: a contact's name (or e-mail), an event's or task's subject."""
    if object_type == "contacts":
        name = " ".join(str(fields.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
        return name or str(fields.get("email") or "(no name)")
    return str(fields.get("subject") or "(no subject)")



def link_data(link: RecordLink, last_error: RecordError | None = None) -> dict:
    return {
        "id": link.pk, "state": link.state, "state_label": LinkState(link.state).label,
        "salesforce_id": link.salesforce_id, "outlook_id": link.outlook_id,
        "salesforce_version": link.salesforce_version, "outlook_version": link.outlook_version,
        "last_synced_at": link.updated_at.isoformat() if link.updated_at else None,
        "needs_retry": link.needs_retry, "gone": link.gone or None,
        "last_error": error_data(last_error),
    }


def error_data(error: RecordError | None) -> dict | None:
    if error is None:
        return None
    return {"side": error.side, "code": error.code, "message": error.message, "run": error.run_id,
            "at": error.created_at.isoformat()}


# ---- the context: configuration, options, the two ends -------------------------------------------------------------


class ExplorerContext:
    """One explorer request: the user's data setting and data set for the object, the connectors' options, the
    two ends (opened lazily, each read guarded so that one end's failure becomes a note, not an error)."""

    def __init__(self, user: SyncUser, object_type: str, clients: Clients | None):
        self.user, self.object = user, object_type
        self.sync_object = engine.SyncObject(object_type)
        self.given = clients
        self.clients: Clients | None = None
        self.notes: list[str] = []
        self.failed: set[engine.Side] = set()
        self.setting = self.data_set = self.options = None
        self.not_synced = ""
        effective = effective_configuration(user)
        if not user.active:
            self.not_synced = "The user is inactive, so nothing of theirs syncs."
        elif effective is None:
            self.not_synced = "No configuration is assigned to the user, so nothing of theirs syncs."
        else:
            configuration = effective.configuration
            self.configuration = configuration
            self.setting = configuration.data_settings.filter(object=object_type).first()
            self.data_set = configuration.data_sets.filter(object=object_type).first()
            if self.setting is None or self.data_set is None or self.setting.direction == Direction.NONE:
                self.not_synced = f"The configuration {configuration.name} does not sync {object_type}."
        self.now = timezone.now()
        self.route = mailbox_route(user)
        if self.setting is not None and self.data_set is not None:
            try:
                self.options = object_options(self.setting, self.data_set, user, self.now, self.route)
            except DataSetError as exc:
                self.not_synced = f"The data set cannot be compiled ({exc}), so nothing syncs until it is fixed."
        self.options = self.options or ObjectOptions()
        self._sides: dict[tuple[engine.Side, str], Any] = {}
        self._outlook_all: list[engine.SideRecord] | None = None

    @property
    def direction(self) -> engine.Direction:
        return engine.Direction(self.setting.direction if self.setting else "none")

    def _ends(self) -> Clients:
        if self.clients is None:
            self.clients = self.given or build_clients(self.user, self.route)
        return self.clients

    def side(self, end: engine.Side, options: ObjectOptions | None = None, key: str = "scope"):
        """The end's side for the object with the data set's options (or `options`, cached under `key`)."""
        if (end, key) not in self._sides:
            ends = self._ends()
            options = options or self.options
            self._sides[(end, key)] = (ends.salesforce.side(self.object, options) if end is SF
                                       else ends.exchange.side(self.object, options, create_folder=False))
        return self._sides[(end, key)]

    def read(self, end: engine.Side, what: Callable[[], T], default: T) -> T:
        """`what()` against one end; a connector error (or a missing connection) becomes a note and `default`."""
        if end in self.failed:
            return default
        try:
            return what()
        except ConnectorError as exc:
            self.failed.add(end)
            if isinstance(exc, TransientError) and exc.code == "TIMEOUT":
                self.notes.append(f"{END_NAMES[end]} did not answer within {INTERACTIVE_SECONDS:g} seconds, so it "
                                  "was not read; try again in a moment.")
            elif getattr(exc, "code", "") == "contacts_folder_missing":
                self.notes.append(f"The contacts folder {self.options.contacts_folder!r} is not in the mailbox: a "
                                  "first sync or a reset creates it.")
            else:
                self.notes.append(f"{END_NAMES[end]} could not be read: {describe_error(exc)}")
            return default

    def outlook_all(self) -> list[engine.SideRecord]:
        """Every item of the object's Outlook folder, whatever the data setting's options would keep (private, other
        categories, excluded addresses, a wider window): what a search and the matching look through."""
        if self._outlook_all is None:
            wide = dataclasses.replace(self.options, sync_private_events=True, event_category=None,
                                       excluded_addresses=(), **self._wide_window())
            self._outlook_all = self.read(OL, lambda: list(self.side(OL, wide, "wide").changes(None).records.values()),
                                          [])
        return self._outlook_all

    def _wide_window(self) -> dict:
        if self.object != "events":
            return {}
        start = parse_instant(self.options.window_start) or self.now
        end = parse_instant(self.options.window_end) or self.now
        return {"window_start": (start - DEFAULT_WINDOW).isoformat(), "window_end": (end + DEFAULT_WINDOW).isoformat()}


# ---- search ----------------------------------------------------------------------------------------------------------


def validate(object_type: str, q: str | None = None, *, required: bool = True) -> str:
    errors: dict[str, list[str]] = {}
    if object_type not in SyncObject.values:
        errors["object"] = [f"Choose the object to look in: {', '.join(SyncObject.values)}."]
    q = (q or "").strip()
    if required and not q:
        errors["q"] = ["Enter an e-mail address, a name, a subject, a Salesforce id or an Outlook item id."]
    elif len(q) > MAX_QUERY:
        errors["q"] = [f"Enter at most {MAX_QUERY} characters."]
    if errors:
        raise ExplorerInputError(errors)
    return q


def _salesforce_search(object_type: str, q: str) -> str:
    """The SOQL condition finding records by e-mail or name (contacts) or subject, every word of `q` matching."""
    words = q.split() if object_type == "contacts" else [q]
    fields = ("Email", "FirstName", "LastName") if object_type == "contacts" else ("Subject",)
    conditions = []
    for word in words:
        like = f"'%{escape_string(word, like=True)}%'"
        conditions.append("(" + " OR ".join(f"{name} LIKE {like}" for name in fields) + ")")
    return " AND ".join(conditions)


def _matches_text(object_type: str, fields: dict, q: str) -> bool:
    keys = ("email", "first_name", "last_name") if object_type == "contacts" else ("subject",)
    text = " ".join(str(fields.get(k) or "") for k in keys).casefold()
    words = q.casefold().split() if object_type == "contacts" else [q.casefold()]
    return all(word in text for word in words)


def search(context: ExplorerContext, q: str) -> tuple[list[Found], list[Found]]:
    """Records of each end matching `q`: by id (either end's, and the links'), or by e-mail, name or subject."""
    salesforce: list[Found] = []
    outlook: list[Found] = []
    links = RecordLink.objects.filter(user=context.user, object=context.object)
    if is_record_id(q):
        try:  # a word of 15 or 18 letters looks like an id too: Salesforce may refuse it, then it is text
            found = context.side(SF).fetch([q])
        except ConnectorError:
            found = {}
        salesforce += [Found(SF, r) for r in found.values()]
    by_outlook_id = links.filter(outlook_id=q).first()
    if by_outlook_id is not None or len(q) > 40:  # Outlook item ids are long: no name or subject looks like one
        found = context.read(OL, lambda: context.side(OL).fetch([q]), {})
        outlook += [Found(OL, r) for r in found.values()]
    if salesforce or outlook:
        return salesforce, outlook
    condition = _salesforce_search(context.object, q)
    search = dataclasses.replace(context.options, where=condition, record_limit=SEARCH_LIMIT)
    hits = context.read(SF, lambda: list(context.side(SF, search, "search").changes(None).records), [])
    if hits:  # whether each is in the data set: read again through the data set's scope
        scoped = context.read(SF, lambda: context.side(SF).fetch(hits), {})
        salesforce += [Found(SF, scoped[i]) for i in hits if i in scoped]
    outlook += [Found(OL, r) for r in context.outlook_all() if _matches_text(context.object, r.fields, q)]
    if outlook:  # the same items as the data setting's options see them (in scope or not)
        scoped = context.read(OL, lambda: context.side(OL).fetch([f.id for f in outlook]), {})
        outlook = [Found(OL, scoped.get(f.id, f.record)) for f in outlook][:SEARCH_LIMIT]
    return salesforce, outlook


def pairs(context: ExplorerContext, salesforce: list[Found], outlook: list[Found]) -> list[dict]:
    """The records found, paired by their link (or the Salesforce id stamped on the Outlook item)."""
    sf_ids = [f.id for f in salesforce]
    ol_ids = [f.id for f in outlook]
    links = list(RecordLink.objects.filter(user=context.user, object=context.object).filter(
        Q(salesforce_id__in=sf_ids) | Q(outlook_id__in=ol_ids)))
    by_sf = {link.salesforce_id: link for link in links if link.salesforce_id}
    by_ol = {link.outlook_id: link for link in links if link.outlook_id}
    rows: list[dict] = []
    used: set[str] = set()
    for found in salesforce:
        link = by_sf.get(found.id)
        partner = next((o for o in outlook if (link and o.id == link.outlook_id)
                        or (not link and o.record.salesforce_id and id18(o.record.salesforce_id) == found.id)), None)
        if partner:
            used.add(partner.id)
        rows.append(row(context.object, link, found, partner))
    for found in outlook:
        if found.id not in used:
            rows.append(row(context.object, by_ol.get(found.id), None, found))
    return rows


def row(object_type: str, link: RecordLink | None, salesforce: Found | None, outlook: Found | None) -> dict:
    named = salesforce or outlook
    return {
        "name": record_name(object_type, named.record.fields) if named else "",
        "link": link_data(link) if link else None,
        "salesforce": salesforce.as_dict(object_type) if salesforce else None,
        "outlook": outlook.as_dict(object_type) if outlook else None,
    }

