"""The series capability switch: series are synced as series for mailboxes served by EWS and by Graph (both read and
write a series master as one item), and switching changes the scope fingerprint, which makes the next run a full,
matching read: users synced as occurrences before converge on it."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from configurations.services import create_configuration
from sync.options import object_options, scope_fingerprint
from sync.routing import Route
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_series_are_series_for_ews_and_graph_mailboxes():
    user = make_user("ann@example.com", email="ann@example.com")
    configuration = create_configuration({"name": "Events", "data_settings": {"events": {"direction": "both"}},
                                          "data_sets": {"events": {"days_back": 30, "days_ahead": 90}}})
    setting = configuration.data_settings.get(object="events")
    data_set = configuration.data_sets.get(object="events")
    now = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    on_ews = object_options(setting, data_set, user, now, Route("ews", "default", ""))
    on_graph = object_options(setting, data_set, user, now, Route("graph", "user", ""))
    assert on_ews.series_as_series is True and on_graph.series_as_series is True
    assert scope_fingerprint(setting, on_ews) == scope_fingerprint(setting, on_graph)
    # a Graph user synced as occurrences (before Graph read series whole) gets a full, matching read next
    assert scope_fingerprint(setting, replace(on_graph, series_as_series=False)) != scope_fingerprint(setting, on_graph)
    # without a route given, the user's own route decides (no Graph connection: EWS)
    assert object_options(setting, data_set, user, now).series_as_series is True
    user.exchange_route = "graph"
    assert object_options(setting, data_set, user, now).series_as_series is True
