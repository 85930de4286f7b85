"""What the EWS emulator refuses rather than ignores: schema-valid requests asking for something it does not implement.

Exchange implements every part of a schema-valid request; the emulator does not. Where a request asks for a part it
does not implement, it answers with Exchange's general "the requested operation is invalid" (ErrorInvalidOperation,
the ResponseCode reference) and a sentence naming the part, instead of answering as if it had done it. Checks here are
request-wide (the dispatcher turns them into one error per requested object, as Exchange does); the list of what was
audited is in docs/sandbox-exchange.md.
"""

import functools

from lxml import etree

from sandbox.exchange import aqs
from sandbox.exchange.recurrence import zone
from sandbox.exchange.soap import SCHEMA_DIR, EwsError, M, SoapFault, child, local

XS = "http://www.w3.org/2001/XMLSchema"

# ItemResponseShapeType options past BaseShape and AdditionalProperties, with the value that asks for nothing extra.
_SHAPE_DEFAULTS = {
    "IncludeMimeContent": "false", "BodyType": "Best", "UniqueBodyType": None, "NormalizedBodyType": None,
    "FilterHtmlContent": "false", "ConvertHtmlCodePageToUTF8": None, "InlineImageUrlTemplate": None,
    "BlockExternalImages": "false", "AddBlankTargetToLinks": "false", "MaximumBodySize": None,
}
_SENDING = {"SendOnly", "SendAndSaveCopy"}
_INVITING = {"SendOnlyToAll", "SendToAllAndSaveCopy", "SendOnlyToChanged", "SendToChangedAndSaveCopy"}


@functools.cache
def schema_operations() -> frozenset[str]:
    """The body elements of messages.xsd that are requests (their type derives from BaseRequestType): the operations
    Exchange serves, whether or not this emulator does."""
    doc = etree.parse(str(SCHEMA_DIR / "messages.xsd"), etree.XMLParser(resolve_entities=False, no_network=True))
    types = {ct.get("name"): ct for ct in doc.iter(f"{{{XS}}}complexType")}

    def is_request(name: str | None) -> bool:
        for _ in range(10):
            if name == "BaseRequestType":
                return True
            ext = types[name].find(f".//{{{XS}}}extension") if name in types else None
            base = ext.get("base", "") if ext is not None else ""
            if not base.startswith("m:"):
                return False
            name = base[2:]
        return False

    return frozenset(el.get("name") for el in doc.getroot().findall(f"{{{XS}}}element")
                     if (el.get("type") or "").startswith("m:") and is_request(el.get("type")[2:]))


def refused(what: str) -> EwsError:
    return EwsError("ErrorInvalidOperation", f"The sandbox does not implement {what}; Exchange would.")


def check_header(header) -> None:
    """SOAP header elements the emulator cannot honour: a whole-request fault, as for a bad RequestServerVersion."""
    tz_def = child(child(header, "TimeZoneContext"), "TimeZoneDefinition")
    if tz_def is not None:
        tz_id = tz_def.get("Id")
        if tz_id and tz_id != "UTC" and getattr(zone(tz_id), "key", "UTC") == "UTC":
            raise SoapFault("ErrorTimeZone", f"The time zone {tz_id} is not a time zone this server knows.")
        if child(tz_def, "Periods") is not None and not tz_id:
            raise SoapFault("ErrorInvalidOperation", "The sandbox does not implement custom time zone definitions.")
    precision = child(header, "DateTimePrecision")
    if precision is not None and (precision.text or "").strip() == "Milliseconds":
        raise SoapFault("ErrorInvalidOperation", "The sandbox does not implement DateTimePrecision Milliseconds.")
    for name in ("ManagementRole", "SerializedSecurityContext"):
        if child(header, name) is not None:
            raise SoapFault("ErrorInvalidOperation", f"The sandbox does not implement the {name} header.")


def check_request(op: str, req, mailboxes=frozenset()) -> None:
    """Raise EwsError for a part of a schema-valid request the emulator would otherwise ignore. `mailboxes`: the
    sandbox's addresses (mail or meeting requests to them would be visible, and are not delivered)."""
    check = _CHECKS.get(op)
    if check is not None:
        check(req, mailboxes)
    for shape_name in ("ItemShape", "FolderShape"):
        _check_shape(child(req, shape_name, ns=M))


def _check_shape(shape) -> None:
    if shape is None:
        return
    for option in shape:
        name = local(option.tag)
        if name in ("BaseShape", "AdditionalProperties"):
            continue
        value = (option.text or "").strip()
        if _SHAPE_DEFAULTS.get(name, "") != value:
            raise refused(f"the item shape option {name}={value}")


def _find_item(req, _mailboxes) -> None:
    for name in ("SeekToConditionPageItemView", "GroupBy", "DistinguishedGroupBy"):
        if child(req, name, ns=M) is not None:
            raise refused(f"FindItem with {name}")
    query = child(req, "QueryString", ns=M)
    if query is None:
        return
    # "The QueryString element excludes the use of EWS restrictions" (QueryString reference).
    if child(req, "Restriction", ns=M) is not None or child(req, "CalendarView", ns=M) is not None:
        raise EwsError("ErrorInvalidOperation", "A QueryString cannot be combined with a Restriction or a "
                                                "CalendarView; send one or the other.")
    for attr in ("ReturnHighlightTerms", "ReturnDeletedItems"):
        if query.get(attr) in ("true", "1"):
            raise refused(f"QueryString with {attr}")
    aqs.parse(query.text or "")  # raises for the parts of AQS the emulator does not implement


def _sends(req, attr: str, values: set[str], container: str, mailboxes) -> None:
    """Refuse sending mail or meeting messages to a mailbox of this sandbox: the emulator saves the sender's copy but
    delivers nothing, which a reader of that mailbox would notice (mail to outside addresses leaves unseen)."""
    if req.get(attr) not in values:
        return
    for el in (child(req, container, ns=M) if child(req, container, ns=M) is not None else []).iter():
        if local(el.tag) == "EmailAddress" and (el.text or "").strip().lower() in mailboxes:
            raise refused(f"{attr}={req.get(attr)} to {el.text.strip()}: it delivers no mail or meeting messages")


def _create_item(req, mailboxes) -> None:
    _sends(req, "MessageDisposition", _SENDING, "Items", mailboxes)
    _sends(req, "SendMeetingInvitations", _INVITING, "Items", mailboxes)


def _update_item(req, mailboxes) -> None:
    _sends(req, "MessageDisposition", _SENDING, "ItemChanges", mailboxes)
    _sends(req, "SendMeetingInvitationsOrCancellations", _INVITING, "ItemChanges", mailboxes)


def _sync_folder_items(req, _mailboxes) -> None:
    scope = child(req, "SyncScope", ns=M)
    if scope is not None and (scope.text or "").strip() != "NormalItems":
        raise refused("SyncFolderItems over folder associated items")


def _resolve_names(req, _mailboxes) -> None:
    if child(req, "ParentFolderIds", ns=M) is not None:
        raise refused("ResolveNames limited to ParentFolderIds")
    if req.get("ContactDataShape") not in (None, "Default"):
        raise refused(f"ResolveNames with ContactDataShape={req.get('ContactDataShape')}")


_CHECKS = {"FindItem": _find_item, "CreateItem": _create_item, "UpdateItem": _update_item,
           "SyncFolderItems": _sync_folder_items, "ResolveNames": _resolve_names}
