"""SOAP envelope handling for the EWS emulator: safe parsing, schema validation, response and fault building."""

import copy
import threading
from pathlib import Path

from lxml import etree

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"

MAX_REQUEST_BYTES = 4 * 1024 * 1024

# What this server reports about itself: Exchange 2016 CU23.
SERVER_BUILD = (15, 1, 2507, 6)
SERVER_API_VERSION = "V2017_07_11"
# Request versions an Exchange 2016 server accepts, oldest first.
SUPPORTED_VERSIONS = (
    "Exchange2007", "Exchange2007_SP1", "Exchange2009", "Exchange2010", "Exchange2010_SP1", "Exchange2010_SP2",
    "Exchange2013", "Exchange2013_SP1", "Exchange2015", "Exchange2016", "V2015_10_05", "V2016_01_06",
    "V2016_04_13", "V2016_07_13", "V2016_10_10", "V2017_01_07", "V2017_04_14", "V2017_07_11",
)

SCHEMA_DIR = Path(__file__).parent / "schema"
_schema = None
_schema_lock = threading.Lock()
_validate_lock = threading.Lock()


class _LaxUris(etree.Resolver):
    """Serves types.xsd with xs:anyURI read as xs:string: Exchange's validator accepts any text where the schema
    says anyURI (a contact's BusinessHomePage keeps a 4,000-character text with spaces: exchangelib's
    test_text_field_settings against a real server), where libxml2 refuses one with a space."""

    def resolve(self, url, pubid, context):
        if not url.endswith("types.xsd"):
            return None
        text = (SCHEMA_DIR / "types.xsd").read_text(encoding="utf-8").replace('type="xs:anyURI"', 'type="xs:string"')
        return self.resolve_string(text, context, base_url=str(SCHEMA_DIR / "types.xsd"))


def schema() -> etree.XMLSchema:
    global _schema
    with _schema_lock:
        if _schema is None:
            parser = etree.XMLParser(resolve_entities=False, no_network=True)
            parser.resolvers.add(_LaxUris())
            _schema = etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "messages.xsd"), parser))
        return _schema


def t(name: str) -> str:
    return f"{{{T}}}{name}"


def m(name: str) -> str:
    return f"{{{M}}}{name}"


def local(tag) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


class SoapFault(Exception):
    """An error Exchange reports as a SOAP fault (the whole request fails)."""

    def __init__(self, code: str, message: str, *, http_status: int = 500, detail_values=None,
                 schema_violation=None, client_fault: bool = False):
        super().__init__(message)
        self.code, self.message, self.http_status = code, message, http_status
        self.detail_values = detail_values or {}
        self.schema_violation = schema_violation
        self.client_fault = client_fault


class EwsError(Exception):
    """An error Exchange reports per response message (ResponseClass="Error")."""

    def __init__(self, code: str, message: str = ""):
        super().__init__(message or code)
        self.code, self.message = code, message or default_message(code)


_MESSAGES = {
    "ErrorItemNotFound": "The specified object was not found in the store.",
    "ErrorFolderNotFound": "The specified folder could not be found in the store.",
    "ErrorInvalidIdMalformed": "Id is malformed.",
    "ErrorInvalidChangeKey": "The change key is invalid.",
    "ErrorIrresolvableConflict": "The send or update operation could not be performed because the change key passed "
                                 "in the request does not match the current change key for the item.",
    "ErrorAccessDenied": "Access is denied. Check credentials and try again.",
    "ErrorServerBusy": "The server cannot service this request right now. Try again later.",
    "ErrorInternalServerError": "An internal server error occurred. The operation failed.",
    "ErrorFolderExists": "A folder with the specified name already exists.",
    "ErrorDeleteDistinguishedFolder": "Distinguished folders cannot be deleted.",
    "ErrorInvalidSyncStateData": "Synchronization state data is corrupt or otherwise invalid.",
    "ErrorNameResolutionNoResults": "No results were found.",
    "ErrorNameResolutionMultipleResults": "Multiple results were found.",
    "ErrorInvalidPropertySet": "The property set is invalid.",
    "ErrorCalendarEndDateIsEarlierThanStartDate": "EndDate is earlier than StartDate.",
}


def default_message(code: str) -> str:
    return _MESSAGES.get(code, code)


def parse_request(body: bytes) -> etree._Element:
    """Parse a request without DTDs, entity expansion, network access or huge trees. Raises SoapFault."""
    if len(body) > MAX_REQUEST_BYTES:
        raise SoapFault("ErrorInvalidRequest", "The request is too large.", client_fault=True)
    if b"<!DOCTYPE" in body[:4096].upper() or b"<!ENTITY" in body.upper():
        raise SoapFault("ErrorInvalidRequest", "DTDs and entity declarations are not allowed.", client_fault=True)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                             dtd_validation=False, remove_comments=True, remove_pis=True)
    try:
        root = etree.fromstring(body, parser)
    except (etree.XMLSyntaxError, ValueError) as e:
        raise SoapFault("ErrorInvalidRequest", f"The request is not well-formed XML: {e}",
                        client_fault=True) from None
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise SoapFault("ErrorInvalidRequest", "The request is not a SOAP envelope.", client_fault=True)
    return root


def validate(elem: etree._Element) -> None:
    """Validate one Body child against the EWS schema; raise ErrorSchemaValidation as Exchange does."""
    sch = schema()
    doc = copy.deepcopy(elem)
    with _validate_lock:  # one validator object, and its error_log, shared by the server's threads
        valid = sch.validate(doc)
        err = None if valid else sch.error_log.last_error
    if not valid:
        raise SoapFault(
            "ErrorSchemaValidation", "The request failed schema validation.",
            schema_violation=(err.line if err else 0, err.column if err else 0, err.message if err else ""),
        )


def envelope(body_child: etree._Element | None, *, with_version: bool = True) -> etree._Element:
    env = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"s": SOAP_NS})
    if with_version:
        header = etree.SubElement(env, f"{{{SOAP_NS}}}Header")
        info = etree.SubElement(header, t("ServerVersionInfo"), nsmap={"h": T})
        major, minor, build, rev = SERVER_BUILD
        info.set("MajorVersion", str(major))
        info.set("MinorVersion", str(minor))
        info.set("MajorBuildNumber", str(build))
        info.set("MinorBuildNumber", str(rev))
        info.set("Version", SERVER_API_VERSION)
    body = etree.SubElement(env, f"{{{SOAP_NS}}}Body")
    if body_child is not None:
        body.append(body_child)
    return env


def fault_envelope(fault: SoapFault) -> etree._Element:
    # Exchange sends a SOAP fault without a SOAP header: no ServerVersionInfo. exchangelib would otherwise take the
    # fault's header as the version that worked and, walking older versions after a version-shaped fault, end the
    # session on Exchange2007 (exchangelib issues #501 and #591 show real fault bodies; docs/sandbox-exchange.md).
    env = envelope(None, with_version=False)
    body = env.find(f"{{{SOAP_NS}}}Body")
    f = etree.SubElement(body, f"{{{SOAP_NS}}}Fault")
    code = etree.SubElement(f, "faultcode", nsmap={"a": T})
    code.text = f"{'s:Client' if fault.client_fault else 'a:' + fault.code}"
    fs = etree.SubElement(f, "faultstring")
    fs.set("{http://www.w3.org/XML/1998/namespace}lang", "en-US")
    fs.text = fault.message
    detail = etree.SubElement(f, "detail")
    rc = etree.SubElement(detail, f"{{{E}}}ResponseCode", nsmap={"e": E})
    rc.text = fault.code
    msg = etree.SubElement(detail, f"{{{E}}}Message", nsmap={"e": E})
    msg.text = fault.message
    if fault.detail_values or fault.schema_violation:
        mx = etree.SubElement(detail, t("MessageXml"), nsmap={"t": T})
        for name, value in fault.detail_values.items():
            v = etree.SubElement(mx, t("Value"))
            v.set("Name", name)
            v.text = str(value)
        if fault.schema_violation:
            line, col, violation = fault.schema_violation
            etree.SubElement(mx, t("LineNumber")).text = str(line)
            etree.SubElement(mx, t("LinePosition")).text = str(col)
            etree.SubElement(mx, t("Violation")).text = violation
    return env


def serialize(env: etree._Element) -> bytes:
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def response_root(operation: str) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(m(f"{operation}Response"), nsmap={"m": M, "t": T})
    msgs = etree.SubElement(root, m("ResponseMessages"))
    return root, msgs


def success_message(msgs: etree._Element, operation: str) -> etree._Element:
    rm = etree.SubElement(msgs, m(f"{operation}ResponseMessage"))
    rm.set("ResponseClass", "Success")
    etree.SubElement(rm, m("ResponseCode")).text = "NoError"
    return rm


def error_message(msgs: etree._Element, operation: str, err: EwsError, response_class: str = "Error"):
    rm = etree.SubElement(msgs, m(f"{operation}ResponseMessage"))
    rm.set("ResponseClass", response_class)
    etree.SubElement(rm, m("MessageText")).text = err.message
    etree.SubElement(rm, m("ResponseCode")).text = err.code
    etree.SubElement(rm, m("DescriptiveLinkKey")).text = "0"
    if operation in _EMPTY_CONTAINER:
        etree.SubElement(rm, m(_EMPTY_CONTAINER[operation]))
    elif operation in ("SyncFolderItems", "SyncFolderHierarchy"):
        # Exchange keeps the sync elements in an error answer (clients read them unconditionally).
        etree.SubElement(rm, m("SyncState"))
        last = "IncludesLastItemInRange" if operation == "SyncFolderItems" else "IncludesLastFolderInRange"
        etree.SubElement(rm, m(last)).text = "true"
    return rm


# Exchange answers an error for these operations with an empty container, which the schema requires.
_EMPTY_CONTAINER = {"GetItem": "Items", "CreateItem": "Items", "UpdateItem": "Items", "MoveItem": "Items",
                    "CopyItem": "Items", "GetFolder": "Folders",
                    "CreateFolder": "Folders", "UpdateFolder": "Folders"}


def sub(parent, tag: str, text=None, **attrs) -> etree._Element:
    """SubElement in the types namespace ('Name') or messages namespace ('m:Name')."""
    qn = m(tag[2:]) if tag.startswith("m:") else t(tag)
    el = etree.SubElement(parent, qn)
    for k, v in attrs.items():
        el.set(k, str(v))
    if text is not None:
        el.text = str(text)
    return el


def child(elem, name: str, ns: str = T):
    if elem is None:
        return None
    return elem.find(f"{{{ns}}}{name}")


def children(elem, name: str, ns: str = T):
    if elem is None:
        return []
    return elem.findall(f"{{{ns}}}{name}")
