"""Hostile or broken requests get SOAP faults (never a crash, a traceback or an expanded entity)."""

import time

import pytest
import requests
from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
ERRORS = "http://schemas.microsoft.com/exchange/services/2006/errors"
TYPES = "http://schemas.microsoft.com/exchange/services/2006/types"

ENVELOPE = """<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
    xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
  <s:Header><t:RequestServerVersion Version="{version}"/></s:Header>
  <s:Body>{body}</s:Body>
</s:Envelope>"""

GET_CONTACTS = """<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>
<m:FolderIds><t:DistinguishedFolderId Id="contacts"/></m:FolderIds></m:GetFolder>"""


@pytest.fixture
def post(sandbox, mailbox):
    def _post(data: bytes | str, auth=(mailbox, "sandbox"), **kwargs):
        if isinstance(data, str):
            data = data.encode()
        return requests.post(sandbox.ews_endpoint, data=data, auth=auth, timeout=30,
                             headers={"Content-Type": "text/xml; charset=utf-8"}, **kwargs)

    return _post


def fault_code(response) -> str:
    assert response.status_code == 500, response.text[:500]
    root = etree.fromstring(response.content)
    fault = root.find(f"{{{SOAP}}}Body/{{{SOAP}}}Fault")
    assert fault is not None, response.text[:500]
    return fault.find(f"detail/{{{ERRORS}}}ResponseCode").text.strip()


def test_well_formed_request_works(post):
    r = post(ENVELOPE.format(version="Exchange2016", body=GET_CONTACTS))
    assert r.status_code == 200
    root = etree.fromstring(r.content)
    info = root.find(f"{{{SOAP}}}Header/{{{TYPES}}}ServerVersionInfo")
    assert (info.get("MajorVersion"), info.get("MinorVersion"), info.get("MajorBuildNumber")) == ("15", "1", "2507")
    assert b"ContactsFolder" in r.content and b'ResponseClass="Success"' in r.content


def test_billion_laughs_is_refused_quickly(post):
    bomb = '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    for i in range(1, 10):
        prev = "&lol;" if i == 1 else f"&lol{i - 1};"
        bomb += f'<!ENTITY lol{i} "{prev * 10}">\n'
    bomb += "]>\n" + ENVELOPE.split("\n", 1)[1].format(version="Exchange2016",
                                                         body="<m:ResolveNames><m:UnresolvedEntry>&lol9;"
                                                              "</m:UnresolvedEntry></m:ResolveNames>")
    started = time.monotonic()
    r = post(bomb)
    assert time.monotonic() - started < 5
    assert fault_code(r) == "ErrorInvalidRequest"
    assert b"lollollol" not in r.content


def test_external_entity_is_not_resolved(post):
    xxe = ('<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
           + ENVELOPE.split("\n", 1)[1].format(version="Exchange2016",
                                               body="<m:ResolveNames><m:UnresolvedEntry>&xxe;"
                                                    "</m:UnresolvedEntry></m:ResolveNames>"))
    r = post(xxe)
    assert fault_code(r) == "ErrorInvalidRequest"
    assert b"root:" not in r.content


def test_oversize_garbage_and_wrong_shapes(post):
    huge = ENVELOPE.format(version="Exchange2016",
                           body="<m:ResolveNames><m:UnresolvedEntry>" + "a" * (5 * 1024 * 1024)
                                + "</m:UnresolvedEntry></m:ResolveNames>")
    assert fault_code(post(huge)) == "ErrorInvalidRequest"
    assert fault_code(post(b"\x00\xff\xfe garbage <<<")) == "ErrorInvalidRequest"
    assert fault_code(post(b"")) == "ErrorInvalidRequest"
    assert fault_code(post("<notsoap/>")) == "ErrorInvalidRequest"
    assert fault_code(post(ENVELOPE.format(version="Exchange2016", body=""))) == "ErrorInvalidRequest"
    assert fault_code(post(ENVELOPE.format(version="Exchange2016", body=GET_CONTACTS + GET_CONTACTS))) == \
        "ErrorInvalidRequest"
    # Deeply nested element soup
    nested = "<m:GetFolder>" + "<t:X>" * 5000 + "</t:X>" * 5000 + "</m:GetFolder>"
    assert fault_code(post(ENVELOPE.format(version="Exchange2016", body=nested))) in (
        "ErrorSchemaValidation", "ErrorInvalidRequest")


def test_schema_violations_are_reported_like_exchange(post):
    bad = ENVELOPE.format(version="Exchange2016", body="""<m:SyncFolderItems>
      <m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
      <m:SyncFolderId><t:DistinguishedFolderId Id="contacts"/></m:SyncFolderId>
      <m:MaxChangesReturned>1000</m:MaxChangesReturned></m:SyncFolderItems>""")
    r = post(bad)
    assert fault_code(r) == "ErrorSchemaValidation"
    root = etree.fromstring(r.content)
    violation = root.find(f".//{{{TYPES}}}MessageXml/{{{TYPES}}}Violation")
    assert violation is not None and "MaxChangesReturned" in violation.text
    unknown = ENVELOPE.format(version="Exchange2016", body="<m:FrobnicateItem/>")
    assert fault_code(post(unknown)) == "ErrorSchemaValidation"


def test_versions(post):
    assert fault_code(post(ENVELOPE.format(version="V2018_01_08", body=GET_CONTACTS))) == "ErrorInvalidServerVersion"
    assert fault_code(post(ENVELOPE.format(version="Exchange2099", body=GET_CONTACTS))) == "ErrorInvalidServerVersion"
    assert post(ENVELOPE.format(version="Exchange2013_SP1", body=GET_CONTACTS)).status_code == 200


def test_http_level_errors(sandbox, post):
    assert post(ENVELOPE.format(version="Exchange2016", body=GET_CONTACTS), auth=("nobody@x.test", "sandbox")) \
        .status_code == 401
    assert post(ENVELOPE.format(version="Exchange2016", body=GET_CONTACTS), auth=None).status_code == 401
    assert requests.get(sandbox.ews_endpoint, auth=("sync-service@sandbox.test", "sandbox"),
                        timeout=30).status_code == 405
    assert requests.get(sandbox.exchange_url + "/elsewhere", timeout=30).status_code == 404


def test_service_account_without_impersonation_is_denied(post, mailbox):
    body = GET_CONTACTS.replace('<t:DistinguishedFolderId Id="contacts"/>',
                                f'<t:DistinguishedFolderId Id="contacts"><t:Mailbox><t:EmailAddress>{mailbox}'
                                "</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>")
    r = post(ENVELOPE.format(version="Exchange2016", body=body), auth=("sync-service@sandbox.test", "sandbox"))
    assert r.status_code == 200 and b"<m:ResponseCode>ErrorAccessDenied</m:ResponseCode>" in r.content
    impersonating = ENVELOPE.format(version="Exchange2016", body=body).replace(
        "</s:Header>", "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>nobody@sandbox.test"
                       "</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation></s:Header>")
    assert fault_code(post(impersonating, auth=("sync-service@sandbox.test", "sandbox"))) == \
        "ErrorNonExistentMailbox"


def test_https_with_the_sandbox_ca(tmp_path, spawn):
    running = spawn(tmp_path, seed="empty", exchange_https=True)
    try:
        assert running.ews_endpoint.startswith("https://")
        r = requests.post(running.ews_endpoint, data=ENVELOPE.format(version="Exchange2016", body=GET_CONTACTS),
                          auth=("amelia.hart@sandbox.test", "sandbox"), verify=str(running.ca_path), timeout=30,
                          headers={"Content-Type": "text/xml; charset=utf-8"})
        assert r.status_code == 200 and b"ContactsFolder" in r.content
    finally:
        running.stop()


def test_every_error_code_the_emulator_uses_is_an_ews_response_code():
    import re
    from pathlib import Path

    from .conftest import DATA

    xs = "{http://www.w3.org/2001/XMLSchema}"
    codes = set()
    for name in ("types.xsd", "messages.xsd"):
        for simple in etree.parse(str(DATA / "schema" / name)).getroot().iter(f"{xs}simpleType"):
            if simple.get("name") == "ResponseCodeType":
                codes = {e.get("value") for e in simple.iter(f"{xs}enumeration")}
    assert len(codes) > 400
    source = Path(__file__).resolve().parents[3] / "sandbox" / "exchange"
    used = {code for path in source.glob("*.py") for code in re.findall(r'"(Error[A-Za-z]+)"', path.read_text())}
    assert used and used <= codes, sorted(used - codes)


def test_the_response_checker_is_live_and_strict(account, response_checker):
    before = response_checker.validated
    account.contacts.all().count()
    assert response_checker.validated > before
    # A response missing its ResponseCode must be reported (then forgotten, so this test passes).
    broken = (b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
              b'<m:GetItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages">'
              b'<m:ResponseMessages><m:GetItemResponseMessage ResponseClass="Success"/></m:ResponseMessages>'
              b"</m:GetItemResponse></s:Body></s:Envelope>")
    response_checker("GetItem", 200, broken)
    with response_checker.lock:
        assert len(response_checker.problems) == 1
        response_checker.problems.clear()
