"""The Graph side's writes: creates, updates and deletes in $batch requests, with the stamps, If-Match versions,
and meetings this mailbox organizes left alone (Graph would e-mail their attendees) unless the data setting allows
updating them (`update_organized_meetings`: the PATCH is sent, and Exchange sends the attendees an update)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from exchangelib.winzone import IANA_TO_MS_TIMEZONE_MAP

from sync.connectors.base import TransientError
from sync.connectors.exchange import MEETING_NOT_UPDATED
from sync.connectors.graph.errors import GONE_OCCURRENCE, classify, error_of, item_error, mailbox_error, retry_after
from sync.connectors.graph.items import (
    SALESFORCE_ID_PROPERTY,
    guarded,
    is_organized_meeting,
    linked_resource,
    query,
    strip_nulls_for_create,
)
from sync.connectors.graph.transport import Answer
from sync.engine.apply import CreateRequest, UpdateRequest, WriteError, WriteResult
from sync.engine.records import SyncObject
from sync.mappings import graph as mapping


class GraphWrites:
    """The write half of `GraphSide` (a mixin): it relies on the side's `mailbox`, `object_type`, `user`, paths,
    `_etags`, `_current` and `_meetings`."""

    # ---- writes ----------------------------------------------------------------------------------------------------
    @guarded
    def create(self, requests_: Sequence[CreateRequest]) -> list[WriteResult]:
        if not requests_:
            return []
        if self.object_type is SyncObject.CONTACTS:
            path = f"{self.user}/contactFolders/{quote(self._folder(), safe='=-_')}/contacts"
        elif self.object_type is SyncObject.EVENTS:
            path = f"{self.user}/calendar/events"
        else:
            path = f"{self.user}/todo/lists/{quote(self._task_list(), safe='=-_')}/tasks"
        batch = []
        for request in requests_:
            body = _series_zone(mapping.to_graph(self.object_type, request.fields,
                                                 time_zone=graph_zone(self.mailbox.time_zone)))
            if request.salesforce_id_stamp:
                if self.object_type is SyncObject.TASKS:
                    body["linkedResources"] = [linked_resource(request.salesforce_id_stamp)]
                else:
                    body.setdefault("singleValueExtendedProperties", []).append(
                        {"id": SALESFORCE_ID_PROPERTY, "value": request.salesforce_id_stamp})
            batch.append({"method": "POST", "url": path, "body": strip_nulls_for_create(body),
                          "headers": {"Content-Type": "application/json"}})
        return [self._result(answer, None) for answer in self.mailbox.batch(batch)]

    @guarded
    def update(self, requests_: Sequence[UpdateRequest]) -> list[WriteResult]:
        if not requests_:
            return []
        if self.object_type is SyncObject.CONTACTS:
            # Our entries of the contact's collections replace the first ones; the user's others are kept.
            unread = [r.record_id for r in requests_ if r.fields is not None and r.record_id not in self._current]
            self._read_current(unread)
        meetings: set[str] = set()
        if self.object_type is SyncObject.EVENTS and not self.options.update_organized_meetings:
            # Graph sends an update to the attendees of a meeting its organizer's copy is changed in (it has no
            # SendToNone): unless the admin allowed that, such meetings only ever get our stamp.
            meetings = self._organized_meetings([r.record_id for r in requests_ if r.fields is not None])
        if self.object_type is SyncObject.TASKS:
            self._read_task_stamps([r.record_id for r in requests_
                                    if r.salesforce_id_stamp and r.record_id not in self._task_stamps])
        batch: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []  # To Do stamps (linked resources), sent once the PATCHes are answered
        # per request: (which batch, position of the answer that decides its result, whether that answer carries the
        # item's new version), or None when there is nothing to write
        slots: list[tuple[list, int, bool] | None] = []
        linked_after: dict[int, int] = {}  # position of a request → position of its stamp in `links`
        bodies: dict[int, dict[str, Any]] = {}  # position of a request → the PATCH body sent for it
        for position, request in enumerate(requests_):
            body: dict[str, Any] = {}
            if request.fields is not None and request.record_id in meetings:
                slots.append(None)
                continue
            if request.fields is not None:
                body = _series_zone(mapping.to_graph(
                    self.object_type, request.fields, self._current.get(request.record_id),
                    time_zone=self._zones.get(request.record_id) or graph_zone(self.mailbox.time_zone)))
            if request.salesforce_id_stamp and self.object_type is not SyncObject.TASKS:
                body.setdefault("singleValueExtendedProperties", []).append(
                    {"id": SALESFORCE_ID_PROPERTY, "value": request.salesforce_id_stamp})
            path = self._item_path(request.record_id)
            stamp = None
            if (self.object_type is SyncObject.TASKS and request.salesforce_id_stamp
                    and self._task_stamps.get(request.record_id) != request.salesforce_id_stamp):
                # A linked resource of ours, added only where the task lacks it: each one changes the task's
                # version, so it goes after the conditional PATCH (which would otherwise fail its If-Match), and
                # the task's new version is learnt at the next read.
                links.append({"method": "POST", "url": f"{path}/linkedResources",
                              "body": linked_resource(request.salesforce_id_stamp),
                              "headers": {"Content-Type": "application/json"}})
                stamp = len(links) - 1
            if not body:
                slots.append((links, stamp, False) if stamp is not None else None)
                continue
            headers = {"Content-Type": "application/json"}
            etag = self._etags.get(request.record_id)
            if etag:
                headers["If-Match"] = etag
            batch.append({"method": "PATCH", "url": path, "body": body, "headers": headers})
            slots.append((batch, len(batch) - 1, stamp is None))
            bodies[position] = body
            if stamp is not None:
                linked_after[position] = stamp
        answers = {id(batch): self.mailbox.batch(batch) if batch else []}
        if links:
            # a stamp whose PATCH failed is not sent: the update is retried, stamp and all, at the next run
            failed = {linked_after[p] for p, slot in enumerate(slots)
                      if p in linked_after and slot and not 200 <= answers[id(batch)][slot[1]].status < 300}
            sent = [link for n, link in enumerate(links) if n not in failed]
            link_answers = iter(self.mailbox.batch(sent))
            answers[id(links)] = [None if n in failed else next(link_answers) for n in range(len(links))]
        out = []
        for position, (request, slot) in enumerate(zip(requests_, slots, strict=True)):
            if request.fields is not None and request.record_id in meetings:
                out.append(WriteResult(error=WriteError("meeting_not_updated", MEETING_NOT_UPDATED, False)))
            elif slot is None:
                out.append(WriteResult(request.record_id, None))
            else:
                answer = answers[id(slot[0])][slot[1]]
                result = self._result(answer, request.record_id, version=slot[2])
                if (result.error is None and result.version and self.object_type is SyncObject.TASKS
                        and _moved_on(bodies.get(position), answer)):
                    result = WriteResult(request.record_id, None)  # the next read sees what the task became
                if result.error is None and position in linked_after:
                    stamped = self._result(answers[id(links)][linked_after[position]], request.record_id,
                                           version=False)
                    if stamped.error is not None:
                        result = stamped
                    else:
                        self._task_stamps[request.record_id] = request.salesforce_id_stamp
                        self._etags.pop(request.record_id, None)
                elif result.error is None and slot[0] is links:
                    self._task_stamps[request.record_id] = request.salesforce_id_stamp
                    self._etags.pop(request.record_id, None)
                out.append(result)
        return out

    def _read_task_stamps(self, ids: Sequence[str]) -> None:
        """Reads (in one batch) the tasks about to be updated that this run has not seen with their linked
        resources, to learn whether they carry our stamp already; a missing task fails its own PATCH."""
        for item in self._get(list(ids)).values():
            self._record(item)

    def _read_current(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        fields = "emailAddresses,businessPhones,homePhones"
        answers = self.mailbox.batch_get([f"{self._item_path(i)}?$select={fields}" for i in ids])
        for record_id, answer in zip(ids, answers, strict=True):
            if 200 <= answer.status < 300:
                self._current[record_id] = {k: answer.body.get(k) for k in fields.split(",")}
                if answer.body.get("@odata.etag"):
                    self._etags[record_id] = str(answer.body["@odata.etag"])
            elif answer.status != 404:  # a missing contact fails its own PATCH; anything else stops the batch
                raise classify(answer.status, answer.body, answer.headers)

    @guarded
    def delete(self, record_ids: Sequence[str]) -> list[WriteResult]:
        """Deletes (Exchange Online keeps them in Deleted Items); an item already gone is deleted.

        Meetings this mailbox organizes with attendees are left alone and reported: Graph has no "send no
        cancellations" (EWS's SendToNone), and the sync never e-mails anyone.
        """
        if not record_ids:
            return []
        kept = self._organized_meetings(record_ids) if self.object_type is SyncObject.EVENTS else set()
        todo = [i for i in record_ids if i not in kept]
        answers = iter(self.mailbox.batch([{"method": "DELETE", "url": self._item_path(i)} for i in todo])
                       if todo else [])
        out = []
        for record_id in record_ids:
            if record_id in kept:
                out.append(WriteResult(error=WriteError(
                    "meeting_not_deleted", "a meeting this mailbox organizes with attendees is left in Outlook: "
                    "deleting it through Graph would e-mail cancellations to its attendees", False)))
                continue
            answer = next(answers)
            code, message = error_of(answer.body)
            if (200 <= answer.status < 300 or (answer.status == 404 and mailbox_error(404, code, message) is None)
                    or code in GONE_OCCURRENCE):  # already gone is deleted
                self._etags.pop(record_id, None)
                out.append(WriteResult(record_id, None))
            else:
                out.append(self._result(answer, record_id))
        return out

    def _organized_meetings(self, ids: Sequence[str]) -> set[str]:
        """The events among `ids` that this mailbox organizes and that have attendees (read if not read yet, with the
        event's own start zone, which an all-day update keeps)."""
        unknown = list(dict.fromkeys(i for i in ids if i not in self._meetings))
        if unknown:
            answers = self.mailbox.batch_get([
                self._item_path(i) + query({"$select": "isOrganizer,attendees,originalStartTimeZone"})
                for i in unknown])
            for record_id, answer in zip(unknown, answers, strict=True):
                if 200 <= answer.status < 300:
                    self._meetings[record_id] = is_organized_meeting(answer.body)
                    if "originalStartTimeZone" in answer.body:
                        self._zones[record_id] = mapping.own_zone(answer.body)
                else:
                    attention = mailbox_error(answer.status, *error_of(answer.body))
                    if attention is not None:
                        raise attention
                    self._meetings[record_id] = False  # gone or unreadable: its DELETE answers for itself
        return {i for i in ids if self._meetings.get(i)}

    def _result(self, answer: Answer, requested: str | None, *, version: bool = True) -> WriteResult:
        if 200 <= answer.status < 300:
            body = answer.body if isinstance(answer.body, dict) else {}
            record_id = requested or (str(body["id"]) if body.get("id") else None)
            if not version:
                return WriteResult(record_id, None)
            etag = body.get("@odata.etag")
            if record_id and etag:
                self._etags[record_id] = str(etag)
            token = body.get("changeKey") or etag
            return WriteResult(record_id, str(token) if token else None)
        code, message = error_of(answer.body)
        attention = mailbox_error(answer.status, code, message)
        if attention is not None:
            raise attention  # the mailbox or the app's rights, not this item: stop and tell a person
        if answer.status in (429, 503):
            raise TransientError(code or "TooManyRequests", message, retry_after=retry_after(answer.headers))
        return WriteResult(error=item_error(answer.status, answer.body, answer.headers))


def graph_zone(name: str) -> str:
    """The owner's IANA zone as Graph takes it on every method: its Windows name (CLDR's table, which exchangelib
    carries); Graph's list of other names it takes is shorter, and "might not" hold on create or update
    (learn.microsoft.com/graph/api/resources/datetimetimezone). Blank: UTC; a zone without a Windows name: as is."""
    if not name:
        return "UTC"
    windows = IANA_TO_MS_TIMEZONE_MAP.get(name)
    return windows[0] if windows else name


def _series_zone(body: dict[str, Any]) -> dict[str, Any]:
    """A series' zone by the name Graph takes (see `graph_zone`)."""
    span = (body.get("recurrence") or {}).get("range")
    if span and span.get("recurrenceTimeZone") not in (None, "", "UTC"):
        span["recurrenceTimeZone"] = graph_zone(span["recurrenceTimeZone"])
    return body


def _moved_on(body: dict[str, Any] | None, answer: Answer) -> bool:
    """Whether To Do answered a task PATCH with another status or due date than the one written: a recurring task
    whose occurrence was completed is answered as it now is, its next occurrence, open again (the completed one is a
    new task). Its version must not be stored as that of what was written, or the move would never reach
    Salesforce."""
    if not body or not isinstance(answer.body, dict) or "status" not in body:
        return False
    now = answer.body
    if str(now.get("status") or "").lower() != str(body.get("status") or "").lower():
        return True
    due = (body.get("dueDateTime") or {}).get("dateTime", "")[:10]
    return bool(due) and str((now.get("dueDateTime") or {}).get("dateTime", ""))[:10] != due
