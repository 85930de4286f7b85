"""The Salesforce id as an exchangelib extended property on contacts, events and tasks (EWS).

The property set and name are shared with the Graph connector (`sync.connectors.exchange`); exchangelib needs
them as an `ExtendedProperty` class registered on its item models.
"""

from __future__ import annotations

import threading

from exchangelib import CalendarItem, Contact, ExtendedProperty, Task

from sync.connectors.exchange import SALESFORCE_ID_PROPERTY_NAME, SALESFORCE_ID_PROPERTY_SET

# The exchangelib field name the stamp is read and written under.
SALESFORCE_ID_FIELD = "sfsync_salesforce_id"


class SalesforceIdProperty(ExtendedProperty):
    property_set_id = SALESFORCE_ID_PROPERTY_SET
    property_name = SALESFORCE_ID_PROPERTY_NAME
    property_type = "String"


_REGISTER_LOCK = threading.Lock()


def register_salesforce_id() -> None:
    """Register the property on Contact, CalendarItem and Task (idempotent; every EwsMailbox does it).

    exchangelib's field registry is global to the process, so it is done when the connector is first used rather
    than as a side effect of importing this module.
    """
    with _REGISTER_LOCK:
        for model in (Contact, CalendarItem, Task):
            if SALESFORCE_ID_FIELD not in {f.name for f in model.FIELDS}:
                model.register(SALESFORCE_ID_FIELD, SalesforceIdProperty)


def deregister_salesforce_id() -> None:
    """Undo `register_salesforce_id` (for tests that inspect exchangelib's own field lists)."""
    with _REGISTER_LOCK:
        for model in (Contact, CalendarItem, Task):
            if SALESFORCE_ID_FIELD in {f.name for f in model.FIELDS}:
                model.deregister(SALESFORCE_ID_FIELD)
