"""What the rest of the product may ask of the Salesforce end: the declared protocols, and capabilities as
attributes of the end rather than questions about which connector it is."""

import pytest

from sync.connectors.protocols import SalesforceEnd, SalesforceSideEnd
from sync.connectors.salesforce import SalesforceSide
from sync.engine import SyncObject


def test_the_client_and_its_sides_are_the_declared_ends(org, user):
    client = org.client(user)
    assert isinstance(client, SalesforceEnd)
    for object_type in SyncObject:
        assert isinstance(client.side(object_type), SalesforceSideEnd)


@pytest.mark.parametrize("object_type", list(SyncObject))
def test_salesforce_can_hold_a_recurring_series(org, user, object_type):
    assert SalesforceSide.supports_series is True
    assert org.client(user).side(object_type).supports_series is True


def test_a_side_counts_its_calls_on_its_client(org, user):
    client = org.client(user)
    side = client.side(SyncObject.CONTACTS)
    side.changes(None)
    assert side.calls is client.calls
    assert side.calls.by_operation == {"token": 1, "query": 1}
