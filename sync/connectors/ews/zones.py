"""All-day events keep the zone they were made in: the EWS side's bookkeeping of each event's own start zone (a
mixin of `EwsSide`), so that an update from Salesforce writes the new days on the same midnights."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exchangelib import EWSTimeZone
from exchangelib.fields import FieldPath

from sync.connectors.ews.convert import own_zone
from sync.engine.apply import UpdateRequest
from sync.engine.records import SyncObject


class AllDayZones:
    """Relies on the side's `mailbox`, `account`, `model` and `object_type`."""

    def _remember_zone(self, record_id: str, item: Any, view: dict[str, Any]) -> None:
        """An all-day event read in this run: its own zone (None: UTC or none, see convert.own_zone)."""
        if view.get("is_all_day"):
            self._own_zones()[record_id] = own_zone(item)

    def _zone_for(self, record_id: str) -> EWSTimeZone | str:
        """Where an all-day update's midnights go: the event's own zone, else its owner's."""
        return self._own_zones().get(record_id) or self.mailbox.time_zone

    def _read_zones(self, requests_: Sequence[UpdateRequest]) -> None:
        """The own start zones of events about to be written as all-day that this run did not read (one GetItem
        per batch, only when there are such events)."""
        zones = self._own_zones()
        ids = [r.record_id for r in requests_ if self.object_type is SyncObject.EVENTS and r.fields is not None
               and r.fields.get("is_all_day") and r.record_id not in zones]
        if not ids:
            return
        fields = {FieldPath(field=self.model.get_field_by_fieldname("_start_timezone"))}
        with self.mailbox.ews():
            for record_id, item in self._get_items(ids, fields):
                if not isinstance(item, Exception):  # a missing item fails its update, as before
                    zones[record_id] = own_zone(item)

    def _own_zones(self) -> dict[str, EWSTimeZone | None]:
        if "_zones" not in self.__dict__:
            self._zones: dict[str, EWSTimeZone | None] = {}
        return self._zones
