"""Both Exchange connectors are the declared mailbox end: what the runner, the operations and the connection checks
may ask of a mailbox is the same whichever protocol serves it, and what the end can do is an attribute of the end."""

import pytest

from sync.connectors.base import EwsSettings, GraphSettings
from sync.connectors.ews import EwsMailbox, deregister_salesforce_id
from sync.connectors.graph import GraphMailbox
from sync.connectors.protocols import MailboxEnd, MailboxSideEnd
from sync.engine import SyncObject

# Building a mailbox end and its sides makes no call: the addresses below are never reached.
MAILBOXES = {
    "ews": lambda: EwsMailbox(EwsSettings(ews_url="https://mail.invalid/EWS/Exchange.asmx", username="svc",
                                          password="not used"), "Ann@Example.com"),
    "graph": lambda: GraphMailbox(GraphSettings(tenant_id="contoso.invalid", client_id="app", client_secret="x"),
                                  "Ann@Example.com"),
}


@pytest.fixture(autouse=True)
def _forget_the_stamp_property():
    # An EWS mailbox registers the Salesforce-id property on exchangelib's item classes for the whole process.
    yield
    deregister_salesforce_id()


@pytest.mark.parametrize("protocol", sorted(MAILBOXES))
def test_each_mailbox_and_its_sides_are_the_declared_ends(protocol):
    mailbox = MAILBOXES[protocol]()
    assert isinstance(mailbox, MailboxEnd)
    assert mailbox.protocol == protocol
    for object_type in SyncObject:
        side = mailbox.side(object_type)
        assert isinstance(side, MailboxSideEnd)
        assert side.supports_series is mailbox.supports_series
        assert side.calls is mailbox.calls
    assert mailbox.calls.calls == 0


def test_series_as_series_is_a_capability_of_the_end():
    # EWS and Graph both read and write a series master as one item.
    assert EwsMailbox.supports_series is True
    assert GraphMailbox.supports_series is True


def test_each_end_says_how_it_reaches_a_mailbox():
    assert EwsMailbox.reached_how != GraphMailbox.reached_how
    assert "EWS" in EwsMailbox.reached_how and "Graph" in GraphMailbox.reached_how
