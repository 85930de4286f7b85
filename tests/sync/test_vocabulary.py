"""One vocabulary: the engine's enums and the models' choices name the same objects, directions, conflict
behaviours, link states and sides, with the same values, so a value stored by one is always understood by the other.

The engine is pure Python (no Django), so its enums cannot be the models' choices; this test keeps the two equal.
"""

import importlib
import importlib.util
from enum import Enum

import pytest
from django.apps import apps

from configurations import models as configuration_models
from configurations import soql
from sync import engine
from sync import models as sync_models
from sync.mappings import salesforce as salesforce_mapping
from users import models as user_models


def members(enum: type[Enum]) -> dict[str, str]:
    return {member.name: member.value for member in enum}


@pytest.mark.parametrize(("engine_enum", "choices"), [
    (engine.SyncObject, configuration_models.SyncObject),
    (engine.Direction, configuration_models.Direction),
    (engine.ConflictBehavior, configuration_models.ConflictBehavior),
    (engine.LinkState, sync_models.LinkState),
    (engine.Side, sync_models.SideChoice),
], ids=lambda enum: f"{enum.__module__}.{enum.__qualname__}")
def test_engine_enum_equals_model_choices(engine_enum, choices):
    assert members(engine_enum) == members(choices)


def test_every_object_field_offers_exactly_the_engine_objects():
    fields = [field for model in apps.get_models() for field in model._meta.get_fields()
              if field.name == "object" and getattr(field, "choices", None)]
    assert len(fields) >= 4  # data settings, data sets, user object states, links, runs
    for field in fields:
        assert [value for value, _label in field.choices] == [o.value for o in engine.SyncObject], field


def test_object_lists_name_the_engine_objects_in_order():
    # The list moved from sync.services to sync.options; whichever of them exist and declare it must agree.
    homes = [importlib.import_module(name) for name in ("sync.options", "sync.services")
             if importlib.util.find_spec(name) is not None]
    declared = {home.__name__: tuple(home.OBJECTS) for home in homes if hasattr(home, "OBJECTS")}
    assert declared, "no module declares OBJECTS"
    for objects in declared.values():
        assert objects == tuple(o.value for o in engine.SyncObject)


def test_salesforce_object_maps_cover_exactly_the_engine_objects():
    objects = {o.value for o in engine.SyncObject}
    assert set(soql.SOBJECTS) == objects
    assert {str(o) for o in salesforce_mapping.SOBJECTS} == objects
    assert {soql.SOBJECTS[o] for o in objects} == {salesforce_mapping.SOBJECTS[engine.SyncObject(o)] for o in objects}


def test_the_run_state_of_each_user_object_is_the_one_sync_state():
    field = user_models.UserObjectState._meta.get_field("state")
    assert list(field.choices) == list(user_models.SyncState.choices)
