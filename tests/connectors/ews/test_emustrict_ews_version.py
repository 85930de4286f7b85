"""Exchange's SOAP faults carry no ServerVersionInfo (issue 17 item 10): after Exchange refuses a request on every
schema version exchangelib tries, the connection's shared exchangelib protocol still speaks the configured version,
so the next sync of any mailbox is sent as before; the refusal is reported in our words with Exchange's code."""

import pytest

from sync.connectors.base import ConnectorError
from sync.connectors.ews import EwsMailbox
from sync.engine import SyncObject
from sync.error_words import describe_error


def test_a_refused_request_does_not_downgrade_the_connection(settings, email, sandbox, control):
    mailbox = EwsMailbox(settings, email)
    mailbox.side(SyncObject.TASKS).changes(None)
    configured = mailbox.account.version.api_version
    assert configured == mailbox.account.protocol.config.version.api_version
    calls_before = control.stats()["calls"].get("SyncFolderItems", 0)
    control.fault(operation="SyncFolderItems", status=500, error_code="ErrorInvalidRequest", count=50)
    with pytest.raises(ConnectorError) as caught:
        mailbox.side(SyncObject.TASKS).changes(None)
    control.clear_faults()
    assert "Traceback" not in describe_error(caught.value) and caught.value.message.endswith(".")
    # exchangelib tried each older version once, as it does against Exchange ...
    assert control.stats()["calls"]["SyncFolderItems"] - calls_before > 1
    # ... and, no fault carrying a version, kept the configured one for this account and for the shared protocol.
    assert mailbox.account.version.api_version == configured
    assert mailbox.account.protocol.config.version.api_version == configured
    other = sandbox.hub.exchange.create_mailbox(email=f"v-{email}", display_name="Version check")
    fresh = EwsMailbox(settings, other)
    fresh.side(SyncObject.TASKS).changes(None)
    assert fresh.account.version.api_version == configured
