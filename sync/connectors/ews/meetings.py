"""Meetings this mailbox organizes (a mixin of `EwsSide`): which events about to be updated are the organizer's copy
of a meeting with attendees, and how such an update is sent.

Off (`ObjectOptions.update_organized_meetings` False, the default), Salesforce's changes to such a meeting are not
written, as on Graph: the attendees' copies would silently differ from the organizer's (SendToNone) or they would
get an update from Exchange. On, the update is sent as Outlook sends an organizer's change when "Send Update" is
chosen: SendToAllAndSaveCopy, every attendee gets the updated meeting and the organizer keeps a copy in Sent Items
(the sync never changes the attendee list, so "only to changed attendees" would reach nobody for a new time)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from exchangelib.fields import FieldPath
from exchangelib.items import AUTO_RESOLVE, SAVE_ONLY, SEND_TO_ALL_AND_SAVE_COPY, SEND_TO_NONE

from sync.connectors.ews.errors import WRITE_BATCH, _UpdateItem
from sync.connectors.exchange import MEETING_NOT_UPDATED
from sync.engine.apply import WriteError
from sync.engine.records import SyncObject

ATTENDEE_FIELDS = ("required_attendees", "optional_attendees", "resources")
# What an update of an organized meeting sends when the admin allows it (see the module's docstring).
MEETING_UPDATE_SENDS = SEND_TO_ALL_AND_SAVE_COPY


def is_organized_meeting(item: Any) -> bool:
    """The organizer's copy of a meeting with attendees (an appointment without attendees is no meeting)."""
    return getattr(item, "my_response_type", None) == "Organizer" and any(
        getattr(item, name, None) for name in ATTENDEE_FIELDS)


class OrganizedMeetings:
    """Relies on the side's `account`, `mailbox`, `model`, `object_type`, `options` and `_get_items`."""

    def _organized_meetings(self, ids: Sequence[str]) -> set[str]:
        """The events among `ids` this mailbox organizes with attendees (one GetItem per batch; a missing item is
        no meeting: its update fails on its own)."""
        if self.object_type is not SyncObject.EVENTS or not ids:
            return set()
        names = ("my_response_type", *ATTENDEE_FIELDS)
        fields = {FieldPath(field=self.model.get_field_by_fieldname(name)) for name in names}
        with self.mailbox.ews():
            return {record_id for record_id, item in self._get_items(list(dict.fromkeys(ids)), fields)
                    if not isinstance(item, Exception) and is_organized_meeting(item)}

    def _meeting_sends(self, organized: bool) -> str:
        """SendMeetingInvitationsOrCancellations for an update: only an allowed organized meeting notifies anyone."""
        return MEETING_UPDATE_SENDS if organized and self.options.update_organized_meetings else SEND_TO_NONE

    def _send_updates(self, changes: Sequence[tuple[Any, list[str]]], meetings: set[str]) -> list[Any]:
        """UpdateItem for each (item, field names) in batches, in order: a change without names is answered with the
        item as it is, and one without an item (an organized meeting left alone) with `meeting_not_updated`.
        SendMeetingInvitationsOrCancellations is one per request, so meetings that notify go in their own."""
        results: list[Any] = []
        with self.mailbox.ews():
            for start in range(0, len(changes), WRITE_BATCH):
                chunk = changes[start:start + WRITE_BATCH]
                got: dict[int, Any] = {}
                for notify in (False, True):
                    todo = [(item, names) for item, names in chunk
                            if item is not None and names and (item.id in meetings) is notify]
                    if todo:
                        answers = _UpdateItem(account=self.account, chunk_size=WRITE_BATCH).call(
                            items=todo, conflict_resolution=AUTO_RESOLVE, message_disposition=SAVE_ONLY,
                            send_meeting_invitations_or_cancellations=self._meeting_sends(notify),
                            suppress_read_receipts=True)
                        got.update(zip((id(item) for item, _ in todo), answers, strict=True))
                for item, names in chunk:
                    if item is None:
                        results.append(WriteError("meeting_not_updated", MEETING_NOT_UPDATED, False))
                    else:
                        results.append(got[id(item)] if names else (item.id, item.changekey))
        return results
