"""Errors as Exchange sends them (issue 17 item 10): a SOAP fault has no SOAP header (so exchangelib never takes a
version from it), a per-message error carries ServerVersionInfo as a success does, and an operation the emulator does
not implement is refused with ErrorInvalidOperation in one round trip, leaving the session's version alone."""

import pytest
import requests
from exchangelib import Contact
from exchangelib.errors import ErrorInternalServerError, ErrorInvalidOperation, ErrorServerBusy
from lxml import etree

from .conftest import make_account

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
ERRORS = "http://schemas.microsoft.com/exchange/services/2006/errors"
TYPES = "http://schemas.microsoft.com/exchange/services/2006/types"
ENVELOPE = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
    xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <s:Header><t:RequestServerVersion Version="Exchange2016"/></s:Header>
  <s:Body>{body}</s:Body>
</s:Envelope>"""


def _post(sandbox, mailbox, body: str, headers=None):
    return requests.post(sandbox.ews_endpoint, data=ENVELOPE.format(body=body).encode(), auth=(mailbox, "sandbox"),
                         headers={"Content-Type": "text/xml; charset=utf-8", **(headers or {})}, timeout=30)


def test_unsupported_operation_leaves_the_session_version_alone(sandbox, mailbox, control):
    account = make_account(sandbox, mailbox)
    before = account.version.api_version
    Contact(folder=account.contacts, display_name="Before").save()
    calls = control.get("/stats").json()["calls"].get("GetUserOofSettingsRequest", 0)
    with pytest.raises(ErrorInvalidOperation, match="GetUserOofSettings"):
        account.oof_settings  # noqa: B018 - the property call is the request
    # One round trip: exchangelib did not walk every older schema version.
    assert control.get("/stats").json()["calls"]["GetUserOofSettingsRequest"] == calls + 1
    assert account.version.api_version == before == "Exchange2016"
    assert account.protocol.version.api_version == "Exchange2016"
    # The session goes on with the same version, and works.
    Contact(folder=account.contacts, display_name="After").save()
    assert sorted(c.display_name for c in account.contacts.all()) == ["After", "Before"]
    assert account.version.api_version == "Exchange2016"


@pytest.mark.parametrize("code,error", [("ErrorServerBusy", ErrorServerBusy),
                                        ("ErrorInternalServerError", ErrorInternalServerError)])
def test_faults_do_not_change_the_session_version(sandbox, mailbox, control, code, error):
    account = make_account(sandbox, mailbox)
    account.contacts.all().count()
    control.post("/faults", {"operation": "FindItem", "status": 500, "error_code": code, "count": 1})
    with pytest.raises(error):
        account.contacts.all().count()
    assert account.version.api_version == "Exchange2016"
    assert account.contacts.all().count() == 0
    assert account.version.api_version == "Exchange2016"


def test_fault_has_no_soap_header_and_per_message_error_has_one(sandbox, mailbox):
    fault = _post(sandbox, mailbox, "<m:GetUserOofSettingsRequest><t:Mailbox><t:Address>"
                                    f"{mailbox}</t:Address></t:Mailbox></m:GetUserOofSettingsRequest>")
    assert fault.status_code == 500
    root = etree.fromstring(fault.content)
    assert root.find(f"{{{SOAP}}}Header") is None
    f = root.find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    assert f.find("faultcode").text == "a:ErrorInvalidOperation"
    assert f.find(f"detail/{{{ERRORS}}}ResponseCode").text == "ErrorInvalidOperation"
    assert fault.headers["request-id"] and fault.headers["X-BackEndHttpStatus"] == "500"

    missing = _post(sandbox, mailbox, """<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>
        <m:FolderIds><t:FolderId Id="AAMkAGI2TG93AAA="/></m:FolderIds></m:GetFolder>""",
                    headers={"client-request-id": "7c9c1a5e-0b5e-4a55-9b0e-3f1f7d3f2a11",
                             "return-client-request-id": "true"})
    assert missing.status_code == 200
    root = etree.fromstring(missing.content)
    info = root.find(f"{{{SOAP}}}Header/{{{TYPES}}}ServerVersionInfo")
    assert info is not None and info.get("MajorVersion") == "15"
    assert b'ResponseClass="Error"' in missing.content
    assert missing.headers["request-id"] != fault.headers["request-id"]
    assert missing.headers["client-request-id"] == "7c9c1a5e-0b5e-4a55-9b0e-3f1f7d3f2a11"
    assert missing.headers["X-BackEndHttpStatus"] == "200"
