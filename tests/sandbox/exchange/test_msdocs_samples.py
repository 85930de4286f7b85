"""Every request sample from Microsoft's EWS reference gets an Exchange-shaped answer: a schema-valid response (the
conftest validates it) with per-message results, or a SOAP fault with an EWS error code; never an internal error.
The samples' ids belong to Microsoft's test mailboxes, so most item operations answer ErrorInvalidIdMalformed."""

import pytest
import requests
from lxml import etree

from .conftest import DATA

SAMPLES = sorted((DATA / "msdocs_request_samples").glob("*.xml"))
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
ERRORS = "http://schemas.microsoft.com/exchange/services/2006/errors"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_sample_request_gets_an_exchange_answer(sandbox, mailbox, sample):
    body = sample.read_bytes().replace(b"https://schemas.xmlsoap.org/soap/envelope/", SOAP.encode())
    r = requests.post(sandbox.ews_endpoint, data=body, auth=(mailbox, "sandbox"), timeout=30,
                      headers={"Content-Type": "text/xml; charset=utf-8"})
    root = etree.fromstring(r.content)
    payload = root.find(f"{{{SOAP}}}Body")[0]
    if r.status_code == 500:
        code = payload.find(f"detail/{{{ERRORS}}}ResponseCode").text.strip()
        assert code in ("ErrorSchemaValidation", "ErrorInvalidRequest"), code
        return
    assert r.status_code == 200
    codes = [rm.find(f"{{{M}}}ResponseCode").text for rm in payload.find(f"{{{M}}}ResponseMessages")]
    assert codes and "ErrorInternalServerError" not in codes


def test_most_samples_succeed_outright(sandbox, mailbox):
    ok = 0
    for sample in SAMPLES:
        body = sample.read_bytes().replace(b"https://schemas.xmlsoap.org/soap/envelope/", SOAP.encode())
        r = requests.post(sandbox.ews_endpoint, data=body, auth=(mailbox, "sandbox"), timeout=30,
                          headers={"Content-Type": "text/xml; charset=utf-8"})
        ok += r.status_code == 200 and b'ResponseClass="Error"' not in r.content
    assert ok >= 20
