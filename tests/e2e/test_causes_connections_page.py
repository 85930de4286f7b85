"""The Connections page tells the truth about each end (issue 15, item 12): a Graph connection no mailbox uses is
"not in use" (its app sign-in still checked), a plain-http EWS URL is not "TLS verified", and each end's latest
test result stays on the page beside the others'."""

import pytest

from sync.connections import check_connection
from tests.conftest import PASSWORD

pytestmark = pytest.mark.e2e

URL = "/sync/connections/"


def test_graph_with_no_mailbox_routed_to_it_is_not_in_use(world):
    world.person()  # on EWS: nobody is routed to Graph
    result = check_connection("graph")
    assert result["in_use"] is False and result["ok"] is True, result
    assert "No active user's mailbox is routed to Microsoft Graph" in result["detail"]
    assert "obtained a token" in result["detail"]


def test_each_ends_latest_result_is_kept_side_by_side(world, client, admin_user):
    world.person()
    client.login(username=admin_user.username, password=PASSWORD)
    client.post(URL, {"kind": "salesforce", "test": "1"})
    client.post(URL, {"kind": "exchange", "test": "1"})
    page = client.post(URL, {"kind": "graph", "test": "1"}).content.decode()
    assert page.count("Last test:") == 3, page
    assert "Token obtained for" in page  # Salesforce's answer, still shown
    assert "by impersonation" in page  # EWS's answer
    assert "Not in use." in page and "Does not work." not in page  # Graph's

    # The sandbox's EWS emulator is plain http on this machine: no TLS at all, whatever the setting says.
    assert "none: plain http (allowed to this machine only)" in page
    assert page.count("verified against") == 2  # Salesforce and Graph speak https with the sandbox's CA

    # Changing a connection drops its old result: it said nothing about the new settings.
    client.post(
        URL,
        {
            "kind": "exchange",
            "exchange-kind": "exchange",
            "exchange-url": world.sandbox.ews_endpoint,
            "exchange-username": "sync-service@sandbox.test",
            "exchange-secret": "",
            "exchange-auth_type": "basic",
            "exchange-version": "Exchange2019",
            "exchange-verify_tls": "on",
            "exchange-ca_certificate": "",
        },
    )
    page = client.get(URL).content.decode()
    assert page.count("Last test:") == 2 and "by impersonation" not in page, page
