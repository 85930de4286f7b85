"""Writes that never overwrite a Salesforce edit the engine has not seen.

Between the engine's read and its write: an update with an expected version is sent as an sObject Rows ``PATCH``
with ``If-Unmodified-Since`` (Salesforce compares it with the record's LastModifiedDate, to the second, and answers
412 when the record changed since). sObject Collections take no per-record precondition, so these updates go
through the Composite resource, 25 subrequests a call (``allOrNone`` false); a 412 is the engine's
`CHANGED_DURING_SYNC` and the next run decides the record again.

Between the write and the version read back: the read-back selects the written fields with the stamp, and a record
that no longer holds what was written gets no version (`still_as_written`), so the next run takes it as changed
instead of as the sync's own write.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any

from sync.connectors.base import TransientError
from sync.engine.apply import CHANGED_DURING_SYNC
from sync.engine.canonical import schema_for
from sync.engine.records import SyncObject
from sync.mappings import salesforce as mapping

if TYPE_CHECKING:
    from sync.connectors.salesforce.client import SalesforceClient

COMPOSITE_BATCH = 25  # the Composite resource's maximum of subrequests per call
CHANGED_MESSAGE = ("changed in Salesforce while the sync was writing it, so the sync's write was not applied; "
                   "nothing to do: the next sync reads it again and applies the conflict behaviour")


@dataclass(frozen=True)
class SaveOutcome:
    """One record's answer to a write, whichever resource carried it: errors as ``{"statusCode", "message",
    "fields"}`` (sObject Collections' shape)."""

    record_id: str | None
    success: bool
    errors: list[Mapping[str, Any]] = field(default_factory=list)


def if_unmodified_since(version: str | None) -> str | None:
    """The HTTP date of a version token (a SystemModstamp), None when there is none to compare with.

    The fraction of a second is dropped, as an HTTP date has none; Salesforce compares whole seconds, so an edit
    made within the same second as the version read is not told apart (a limit of the API)."""
    try:
        stamp = mapping.parse_datetime(version) if version else None
    except (TypeError, ValueError):
        stamp = None
    if stamp is None:
        return None
    return format_datetime(stamp.replace(microsecond=0), usegmt=True)


def patch_rows(client: SalesforceClient, sobject: str,
               batch: Sequence[tuple[str, Mapping[str, Any], str]]) -> list[SaveOutcome]:
    """Update up to 25 records (id, write body, If-Unmodified-Since) in one Composite call; answers in order."""
    if len(batch) > COMPOSITE_BATCH:
        raise ValueError(f"at most {COMPOSITE_BATCH} subrequests in one composite call")

    def send(api: Any) -> Any:
        base = f"/services/data/v{api.sf_version}/sobjects/{sobject}/"
        return api.restful("composite", method="POST", json={"allOrNone": False, "compositeRequest": [
            {"method": "PATCH", "url": base + record_id, "referenceId": f"u{n}", "body": dict(body),
             "httpHeaders": {"If-Unmodified-Since": since}}
            for n, (record_id, body, since) in enumerate(batch)]})

    answer = client.call(sobject, send)
    responses = answer.get("compositeResponse") if isinstance(answer, Mapping) else None
    by_reference = {r.get("referenceId"): r for r in responses or [] if isinstance(r, Mapping)}
    outcomes = []
    for n, (record_id, _, _) in enumerate(batch):
        response = by_reference.get(f"u{n}")
        if response is None:
            raise TransientError("UNEXPECTED_RESPONSE", f"the Composite resource answered {len(by_reference)} "
                                                        f"subrequests of {len(batch)}")
        outcomes.append(_outcome(record_id, response))
    return outcomes


def _outcome(record_id: str, response: Mapping[str, Any]) -> SaveOutcome:
    status = int(response.get("httpStatusCode") or 0)
    if 200 <= status < 300:
        return SaveOutcome(record_id, True)
    if status == 412:
        return SaveOutcome(record_id, False, [{"statusCode": CHANGED_DURING_SYNC, "message": CHANGED_MESSAGE}])
    body = response.get("body")
    errors = [{"statusCode": error.get("errorCode") or f"HTTP_{status}", "message": error.get("message") or "",
               "fields": error.get("fields") or []}
              for error in (body if isinstance(body, list) else []) if isinstance(error, Mapping)]
    return SaveOutcome(record_id, False, errors or [{"statusCode": f"HTTP_{status}",
                                                     "message": f"Salesforce answered {status}"}])


def still_as_written(object_type: SyncObject, row: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    """Whether a record read back after a write holds what the write sent, in canonical terms.

    The row is compared with itself overlaid with the write body, so what the write did not set (the account's
    name, an org's own picklist value), and what Salesforce stores its own way (a time's milliseconds, ``Busy``
    for tentative), compare equal; a field someone changed after the write does not."""
    schema = schema_for(object_type)
    sent = {name: value for name, value in body.items() if name not in ("attributes", "Id")}
    return schema.content_hash(mapping.to_canonical(object_type, row)) == \
        schema.content_hash(mapping.to_canonical(object_type, {**row, **sent}))
