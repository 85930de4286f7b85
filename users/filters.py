"""The one filter over synced users: the console's users list, the API's users list, a configuration's users and the
configuration page's user search all narrow their querysets here, with the same parameters and the same errors."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from django.db.models import Exists, OuterRef, Q, QuerySet

from configurations.models import OutlookConfiguration
from sync.routing import routed_to
from users.models import ExchangeRoute, SyncState, UserObjectState

FILTERS = ("search", "configuration", "state", "exchange")
NOT_ASSIGNED = "none"  # ``configuration=none``: users without an effective configuration
MAX_SEARCH = 254
_CONFIGURATION_ID = re.compile(r"[0-9]{1,19}")
_EXCHANGE_CHOICES = (ExchangeRoute.EWS, ExchangeRoute.GRAPH)


def _choice(value: str, choices: Iterable[str]) -> tuple[str | None, str | None]:
    return (value, None) if value in choices else (None, f'"{value}" is not a valid choice.')


def _configuration(value: str) -> tuple[str | int | None, str | None]:
    value = value.strip()
    if not value:
        return None, "This field may not be blank."
    if value == NOT_ASSIGNED:
        return value, None
    if not _CONFIGURATION_ID.fullmatch(value) or not 0 < int(value) < 2**63:
        return None, f"Enter a configuration id, or {NOT_ASSIGNED!r} for users with none."
    if not OutlookConfiguration.objects.filter(pk=int(value)).exists():
        # An unknown id would list nobody, which reads as "nobody has it": say what is wrong instead.
        return None, (
            f"Configuration {int(value)} does not exist: choose one from the list, or {NOT_ASSIGNED!r} for "
            "users with none."
        )
    return int(value), None


def _search(value: str) -> tuple[str | None, str | None]:
    if len(value) > MAX_SEARCH:
        return None, f"Ensure this field has no more than {MAX_SEARCH} characters."
    return value.strip(), None


_CHECKS = {
    "search": _search,
    "configuration": _configuration,
    "state": lambda value: _choice(value, SyncState.values),
    "exchange": lambda value: _choice(value, _EXCHANGE_CHOICES),
}


def filter_users(
    queryset: QuerySet, params: Mapping[str, str], fields: Iterable[str] = FILTERS
) -> tuple[QuerySet, dict[str, list[str]]]:
    """Narrow ``queryset`` (synced users annotated with their effective configuration when ``configuration`` is
    among ``fields``) by the parameters of ``params`` named in ``fields``:

    - ``search``: part of the username, e-mail address or name, or the start of the Salesforce id;
    - ``configuration``: an effective configuration's id (one that exists), or ``none``;
    - ``state``: users with any object in this state (``not_started`` also matches users with no state rows yet);
    - ``exchange``: users whose mailbox this protocol (``ews``, ``graph``) serves.

    Returns the queryset with every valid filter applied and the errors of the others, keyed by parameter (the
    API answers them with a 400; the console shows them beside their fields).
    """
    values, errors = {}, {}
    for name in fields:
        if name in params:
            value, error = _CHECKS[name](params[name])
            if error:
                errors[name] = [error]
            else:
                values[name] = value
    if values.get("search"):
        search = values["search"]
        queryset = queryset.filter(
            Q(username__icontains=search)
            | Q(email__icontains=search)
            | Q(name__icontains=search)
            | Q(salesforce_id__startswith=search)
        )
    configuration = values.get("configuration")
    if configuration == NOT_ASSIGNED:
        queryset = queryset.filter(effective_configuration_id__isnull=True)
    elif configuration is not None:
        queryset = queryset.filter(effective_configuration_id=configuration)
    state = values.get("state")
    if state:
        in_state = Exists(UserObjectState.objects.filter(user=OuterRef("pk"), state=state))
        if state == SyncState.NOT_STARTED:
            in_state |= ~Exists(UserObjectState.objects.filter(user=OuterRef("pk")))
        queryset = queryset.filter(in_state)
    if values.get("exchange"):
        queryset = queryset.filter(routed_to(values["exchange"]))
    return queryset, errors
