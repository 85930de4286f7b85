"""Operations on synced users (adding, routing, assigning them to configurations), and the rule that decides each
user's effective configuration.

Effective configuration: a direct assignment wins over a profile assignment, and an inactive configuration
assigns nobody. A user directly assigned to an inactive configuration therefore has none (the direct assignment
decides; it does not fall through to the profile's configuration, which could sync the mailbox in a way nobody
chose). The rule is written once, as query expressions (``effective_configuration_annotations``); the one-user
function and the queryset variant both use it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Case,
    CharField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.utils import timezone

from audit import services as audit
from audit.models import AuditEntry
from configurations.models import DataSetting, Direction, OutlookConfiguration, ProfileAssignment, SyncObject
from users.models import ExchangeRoute, SyncState, SyncUser, UserObjectState, normalize_time_zone, normalize_user_id

VIA_USER, VIA_PROFILE = "user", "profile"
CHUNK = 2000
_SALESFORCE_USER_ID = re.compile(r"^005[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?\Z")
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also accepts "²", which int() refuses


def _profile_assignments(active_only: bool) -> QuerySet:
    assignments = ProfileAssignment.objects.filter(profile=OuterRef("profile"))
    return assignments.filter(configuration__active=True) if active_only else assignments


def _assignment_rule(active_only: bool) -> dict:
    """The precedence rule as expressions: (configuration id, its name, "user" | "profile" | None)."""
    direct = Q(configuration__isnull=False)
    direct_counts = Q(configuration__active=True) if active_only else direct
    profile = _profile_assignments(active_only)
    return {
        "id": Case(
            When(direct_counts, then=F("configuration_id")),
            When(direct, then=Value(None)),
            default=Subquery(profile.values("configuration_id")[:1]),
            output_field=BigIntegerField(),
        ),
        "name": Case(
            When(direct_counts, then=F("configuration__name")),
            When(direct, then=Value(None)),
            default=Subquery(profile.values("configuration__name")[:1]),
            output_field=CharField(),
        ),
        "via": Case(
            When(direct_counts, then=Value(VIA_USER)),
            When(direct, then=Value(None)),
            When(Exists(profile), then=Value(VIA_PROFILE)),
            default=Value(None),
            output_field=CharField(),
        ),
    }


def effective_configuration_annotations() -> dict:
    """Annotations ``effective_configuration_id``, ``effective_configuration_name`` and ``effective_via`` for a
    SyncUser queryset."""
    rule = _assignment_rule(active_only=True)
    return {
        "effective_configuration_id": rule["id"],
        "effective_configuration_name": rule["name"],
        "effective_via": rule["via"],
    }


def with_effective_configuration(queryset: QuerySet | None = None) -> QuerySet:
    """SyncUsers annotated with their effective configuration (one query, no N+1).

    The dispatcher's candidates: ``with_effective_configuration(SyncUser.objects.filter(active=True))
    .filter(effective_configuration_id__isnull=False)``.
    """
    queryset = SyncUser.objects.all() if queryset is None else queryset
    return queryset.annotate(**effective_configuration_annotations())


def with_assigned_configuration(queryset: QuerySet | None = None) -> QuerySet:
    """SyncUsers annotated with ``assigned_configuration_id``: the same rule ignoring whether configurations are
    active (who an inactive configuration would apply to once activated)."""
    queryset = SyncUser.objects.all() if queryset is None else queryset
    return queryset.annotate(assigned_configuration_id=_assignment_rule(active_only=False)["id"])


@dataclass(frozen=True)
class EffectiveConfiguration:
    configuration: OutlookConfiguration
    via: str  # "user" | "profile"

    def as_dict(self) -> dict:
        return {"id": self.configuration.pk, "name": self.configuration.name, "via": self.via}


def effective_configuration(user: SyncUser | int) -> EffectiveConfiguration | None:
    """The configuration that applies to one user and how it came (direct assignment or profile), or None."""
    pk = user.pk if isinstance(user, SyncUser) else user
    row = with_effective_configuration(SyncUser.objects.filter(pk=pk)).values(
        "effective_configuration_id", "effective_via"
    ).first()
    if row is None or row["effective_configuration_id"] is None:
        return None
    return EffectiveConfiguration(
        OutlookConfiguration.objects.get(pk=row["effective_configuration_id"]), row["effective_via"]
    )


def effective_configuration_of_row(user: SyncUser) -> dict | None:
    """``{"id", "name", "via"}`` from a user fetched through ``with_effective_configuration``."""
    if getattr(user, "effective_configuration_id", None) is None:
        return None
    return {"id": user.effective_configuration_id, "name": user.effective_configuration_name, "via": user.effective_via}


def _classify(identifier: Any) -> tuple[str, Any] | None:
    if isinstance(identifier, bool):
        return None
    if isinstance(identifier, int):
        return ("pk", identifier) if 0 < identifier < 2**63 else None
    if not isinstance(identifier, str):
        return None
    text = identifier.strip()
    if not text or "\x00" in text or len(text) > 254:
        return None
    if _DIGITS.fullmatch(text):
        return ("pk", int(text)) if len(text) <= 18 and int(text) > 0 else None
    if _SALESFORCE_USER_ID.match(text):
        try:
            return "salesforce_id", normalize_user_id(text)
        except ValidationError:  # a bad checksum: just an unknown identifier
            return None
    return "name", text.lower()


def resolve_users(
    identifiers: list[Any], fields: tuple[str, ...] = ("pk",), lock: bool = False
) -> tuple[list[tuple[Any, dict]], list]:
    """Find users by id, Salesforce id, username or e-mail address (mixed), in a few queries whatever the count.

    Returns ``(found, unknown)``: ``found`` pairs each identifier (as given, in order) with the user's values
    (``fields`` plus pk), ``unknown`` lists the identifiers that match nobody. A name is tried as a username
    first, then as an e-mail address. ``lock`` locks the users' rows until the surrounding transaction ends.
    """
    columns = tuple(dict.fromkeys(("pk", "username", "email", "salesforce_id", *fields)))
    kinds: dict[str, set] = {"pk": set(), "salesforce_id": set(), "name": set()}
    classified = []
    for identifier in identifiers:
        kind = _classify(identifier)
        classified.append(kind)
        if kind:
            kinds[kind[0]].add(kind[1])

    def fetch(lookup: str, values: set) -> dict:
        found = {}
        ordered = sorted(values)
        for start in range(0, len(ordered), CHUNK):
            rows = SyncUser.objects.filter(**{f"{lookup}__in": ordered[start : start + CHUNK]})
            for row in (rows.select_for_update() if lock else rows).values(*columns):
                found[row[lookup]] = row
        return found

    by_pk = fetch("pk", kinds["pk"])
    by_salesforce_id = fetch("salesforce_id", kinds["salesforce_id"])
    by_username = fetch("username", kinds["name"])
    by_email = fetch("email", kinds["name"] - set(by_username))
    found, unknown = [], []
    for identifier, kind in zip(identifiers, classified, strict=True):
        row = None
        if kind and kind[0] == "pk":
            row = by_pk.get(kind[1])
        elif kind and kind[0] == "salesforce_id":
            row = by_salesforce_id.get(kind[1])
        elif kind:
            row = by_username.get(kind[1]) or by_email.get(kind[1])
        if row is None:
            unknown.append(identifier)
        else:
            found.append((identifier, row))
    return found, unknown


def find_user(identifier: Any) -> SyncUser | None:
    """One user by id, Salesforce id, username or e-mail address (``USER`` of the management commands)."""
    found, _ = resolve_users([identifier])
    return SyncUser.objects.get(pk=found[0][1]["pk"]) if found else None


class SyncUserInvalid(Exception):
    def __init__(self, errors: dict):
        super().__init__(errors)
        self.errors = errors


def ensure_object_states(users: list[SyncUser] | QuerySet) -> None:
    """Every user has one state row per object: ``not_started`` until its first sync, or ``disabled`` when nothing
    syncs it for the user (see ``refresh_object_states``)."""
    user_ids = [u.pk for u in users]
    have = set()
    for start in range(0, len(user_ids), CHUNK):
        have |= set(
            UserObjectState.objects.filter(user_id__in=user_ids[start : start + CHUNK]).values_list("user_id", "object")
        )
    UserObjectState.objects.bulk_create(
        [UserObjectState(user_id=pk, object=o) for pk in user_ids for o in SyncObject.values if (pk, o) not in have],
        batch_size=1000,
        ignore_conflicts=True,
    )
    refresh_object_states(user_ids)


# ---- whether each user's objects sync: the `disabled` state -------------------------------------------------------


def assigned_user_ids(configuration_id: int) -> list[int]:
    """The users this configuration applies to, or would once active (direct, or by profile when not directly
    assigned elsewhere): whose objects a change to it can start or stop. Taken before and after the change."""
    profiles = ProfileAssignment.objects.filter(configuration_id=configuration_id).values("profile")
    return list(SyncUser.objects.filter(
        Q(configuration_id=configuration_id) | Q(configuration__isnull=True, profile__in=profiles)
    ).values_list("pk", flat=True))


def _states_with_reason(states: QuerySet) -> QuerySet:
    """State rows annotated with what decides whether their object syncs: ``synced`` (the user is active and their
    effective configuration's data setting for the object is not ``none``) and that configuration's name."""
    effective = with_effective_configuration(SyncUser.objects.filter(pk=OuterRef("user_id")))
    data_setting = DataSetting.objects.filter(configuration_id=OuterRef("configuration_id"), object=OuterRef("object"))
    return states.annotate(
        configuration_id=Subquery(effective.values("effective_configuration_id")[:1]),
        configuration_name=Subquery(effective.values("effective_configuration_name")[:1]),
        synced=ExpressionWrapper(Q(user__active=True) & Exists(data_setting.exclude(direction=Direction.NONE)),
                                 output_field=BooleanField()),
    )


def disabled_reason(row: dict) -> tuple[str, str]:
    """Why an object does not sync for a user (code, sentence for support staff), from ``_states_with_reason``."""
    if not row["user__active"]:
        return "user_inactive", ("Nothing syncs for this user because they are inactive. Their sync starts again "
                                 "once they are active (an import from Salesforce updates this).")
    if row["configuration_id"] is None:
        return "not_assigned", ("Nothing syncs for this user because no active configuration applies to them. "
                                "Assign them (or their profile) to an active configuration to start syncing.")
    return "object_not_synced", (f"The configuration {row['configuration_name']!r} does not sync "
                                 f"{row['object']}. Change its data setting for {row['object']} to sync them.")


def refresh_object_states(user_ids: list[int] | None = None, *, due_by: datetime | None = None) -> int:
    """Bring the users' object states in line with what syncs for them now; answer how many rows changed.

    An object that nothing syncs for the user (no active configuration, an inactive user, or a data setting of
    ``none``) is ``disabled``, with the reason as its last error and nothing due; a ``disabled`` object that now
    syncs is ``not_started``, due at once (its links and watermarks are kept: the first run reads both sides in
    full and matches). Call it in the transaction of every change that can start or stop objects (configurations,
    assignments, profiles, users' activity), for the users it touched; a run's end calls it for its user (a run that
    began before such a change ends under the old configuration and would leave its state behind). ``None`` with
    ``due_by`` is the dispatcher's safety net: the finished objects due by then, which it is about to consider.
    """
    if user_ids is None:
        finished = [SyncState.IN_SYNC, SyncState.ERROR, SyncState.NEEDS_ATTENTION]
        due = UserObjectState.objects.filter(state__in=finished)
        if due_by is not None:
            due = due.filter(next_due_at__lte=due_by)
        batches = [due]
    else:
        ordered = sorted(set(user_ids))
        batches = [UserObjectState.objects.filter(user_id__in=ordered[start : start + CHUNK])
                   for start in range(0, len(ordered), CHUNK)]
    changed = 0
    for states in batches:
        # a disabled object stays to be looked at: its reason may have changed (assigned, but to a configuration
        # that does not sync this object)
        stale = _states_with_reason(states).filter(Q(synced=True, state=SyncState.DISABLED) | Q(synced=False))
        started, stopped = [], {}
        for row in stale.values("pk", "object", "synced", "user__active", "configuration_id", "configuration_name",
                                "state", "last_error_code", "last_error_message"):
            if row["synced"]:
                started.append(row["pk"])
                continue
            reason = disabled_reason(row)
            if row["state"] != SyncState.DISABLED or (row["last_error_code"], row["last_error_message"]) != reason:
                stopped.setdefault(reason, []).append(row["pk"])
        if started:
            changed += UserObjectState.objects.filter(pk__in=started, state=SyncState.DISABLED).update(
                state=SyncState.NOT_STARTED, next_due_at=None, consecutive_failures=0, last_error_code="",
                last_error_message="", updated_at=timezone.now())
        for (code, message), pks in stopped.items():
            changed += UserObjectState.objects.filter(pk__in=pks).update(
                state=SyncState.DISABLED, next_due_at=None, consecutive_failures=0, progress_done=0,
                progress_total=None, last_error_code=code, last_error_message=message, updated_at=timezone.now())
    return changed


@transaction.atomic
def add_sync_user(values: dict, actor=None) -> SyncUser:
    """A synced user added by hand (the import from Salesforce arrives with the connectors)."""
    errors: dict[str, list[str]] = {}
    values = dict(values)
    try:
        values["salesforce_id"] = normalize_user_id(values.get("salesforce_id", ""))
    except ValidationError as exc:
        errors["salesforce_id"] = list(exc.messages)
    for key in ("username", "email"):
        values[key] = str(values.get(key, "")).strip().lower()
        if not values[key]:
            errors[key] = ["This field is required."]
    if "salesforce_id" not in errors and SyncUser.objects.filter(salesforce_id=values["salesforce_id"]).exists():
        errors["salesforce_id"] = ["A synced user with this Salesforce id already exists."]
    if values["username"] and SyncUser.objects.filter(username=values["username"]).exists():
        errors["username"] = ["A synced user with this username already exists."]
    if values["email"] and SyncUser.objects.filter(email=values["email"]).exists():
        errors["email"] = ["A synced user with this e-mail address already exists."]
    try:
        values["time_zone"] = normalize_time_zone(values.get("time_zone"))
    except ValidationError as exc:
        errors["time_zone"] = list(exc.messages)
    if errors:
        raise SyncUserInvalid(errors)
    allowed = ("salesforce_id", "username", "email", "name", "profile", "active", "time_zone")
    user = SyncUser(**{k: v for k, v in values.items() if k in allowed})
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise SyncUserInvalid({"non_field_errors": ["A synced user with these details was just added."]}) from None
    ensure_object_states([user])
    audit.record(
        AuditEntry.Action.USER_ADDED,
        actor,
        None,
        summary=f"Added synced user {user.username}",
        changes={"before": None, "after": {"id": user.pk, **{k: getattr(user, k) for k in allowed}}},
        subject_user=user,
    )
    return user


def set_exchange_route(user: SyncUser, route: str, actor=None) -> SyncUser:
    """Route the user's mailbox to one Exchange connection (``ews`` or ``graph``), or back to the connections'
    routing (``""``). The next sync of a mailbox that changed connection reads both ends in full and relinks."""
    if route not in ExchangeRoute.values:
        choices = ", ".join(repr(v) for v in ExchangeRoute.values)
        raise SyncUserInvalid({"exchange_route": [f"{route!r} is not one of {choices}."]})
    with transaction.atomic():
        user = SyncUser.objects.select_for_update().get(pk=user.pk)
        before = user.exchange_route
        if before == route:
            return user
        user.exchange_route = route
        user.save(update_fields=["exchange_route", "updated_at"])
        audit.record(
            AuditEntry.Action.USER_ROUTED, actor, None,
            summary=f"Routed {user.username}'s mailbox: {ExchangeRoute(route).label}",
            changes={"before": {"exchange_route": before}, "after": {"exchange_route": route}}, subject_user=user,
        )
    return user


# ---- direct assignment to configurations ------------------------------------------------------------------------


@dataclass
class AssignmentResult:
    """Each list holds the identifiers as the caller gave them."""

    assigned: list = field(default_factory=list)
    moved: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    unknown: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class UnassignmentResult:
    unassigned: list = field(default_factory=list)
    unchanged: list = field(default_factory=list)
    unknown: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@transaction.atomic
def assign_users(configuration: OutlookConfiguration, identifiers: list[Any], actor=None) -> AssignmentResult:
    """Assign users directly (ids, Salesforce ids, usernames and e-mail addresses, mixed) to the configuration.

    Idempotent; users directly assigned elsewhere move here. One transaction, a few queries whatever the number of
    users, and one audit entry for the configuration (plus one per configuration users moved away from).
    """
    configuration = OutlookConfiguration.objects.select_for_update().get(pk=configuration.pk)
    found, unknown = resolve_users(identifiers, fields=("pk", "configuration_id"), lock=True)
    result = AssignmentResult(unknown=unknown)
    previous = {}  # user pk -> configuration pk before this call
    for identifier, row in found:
        previous.setdefault(row["pk"], row["configuration_id"])
        before = previous[row["pk"]]
        if before == configuration.pk:
            result.unchanged.append(identifier)
        elif before is None:
            result.assigned.append(identifier)
        else:
            result.moved.append(identifier)
    to_update = sorted(pk for pk, before in previous.items() if before != configuration.pk)
    now = timezone.now()
    for start in range(0, len(to_update), CHUNK):
        SyncUser.objects.filter(pk__in=to_update[start : start + CHUNK]).update(
            configuration=configuration, updated_at=now
        )
    refresh_object_states(to_update)
    if to_update:
        newly = sorted(pk for pk in to_update if previous[pk] is None)
        moved_from: dict[int, list[int]] = {}
        for pk in to_update:
            if previous[pk] is not None:
                moved_from.setdefault(previous[pk], []).append(pk)
        audit.record(
            AuditEntry.Action.USERS_ASSIGNED,
            actor,
            configuration,
            summary=f"Assigned {len(to_update)} user(s) to {configuration.name!r}"
            + (f" ({len(to_update) - len(newly)} moved from other configurations)" if moved_from else ""),
            changes={
                "assigned_users": newly,
                "moved_users": {str(source): pks for source, pks in sorted(moved_from.items())},
            },
        )
        for source in OutlookConfiguration.objects.filter(pk__in=moved_from).order_by("pk"):
            audit.record(
                AuditEntry.Action.USERS_MOVED_AWAY,
                actor,
                source,
                summary=f"{len(moved_from[source.pk])} user(s) moved to {configuration.name!r}",
                changes={"moved_users": moved_from[source.pk], "to_configuration": configuration.pk},
            )
    return result


@transaction.atomic
def unassign_users(configuration: OutlookConfiguration, identifiers: list[Any], actor=None) -> UnassignmentResult:
    """Remove users' direct assignment to this configuration; users not directly assigned here are ``unchanged``
    (a profile assignment is changed on the configuration's profiles, not per user)."""
    configuration = OutlookConfiguration.objects.select_for_update().get(pk=configuration.pk)
    found, unknown = resolve_users(identifiers, fields=("pk", "configuration_id"), lock=True)
    result = UnassignmentResult(unknown=unknown)
    to_update: set[int] = set()
    for identifier, row in found:
        if row["configuration_id"] == configuration.pk:
            result.unassigned.append(identifier)
            to_update.add(row["pk"])
        else:
            result.unchanged.append(identifier)
    pks = sorted(to_update)
    for start in range(0, len(pks), CHUNK):
        SyncUser.objects.filter(pk__in=pks[start : start + CHUNK], configuration=configuration).update(
            configuration=None, updated_at=timezone.now()
        )
    refresh_object_states(pks)
    if pks:
        audit.record(
            AuditEntry.Action.USERS_UNASSIGNED,
            actor,
            configuration,
            summary=f"Unassigned {len(pks)} user(s) from {configuration.name!r}",
            changes={"unassigned_users": pks},
        )
    return result

