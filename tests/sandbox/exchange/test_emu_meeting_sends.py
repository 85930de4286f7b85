"""Meeting updates and attendees' responses in the EWS emulator: what an UpdateItem of a calendar item asked to send
(SendMeetingInvitationsOrCancellations) is recorded per item for the control API, since nothing is delivered; an
attendee's response (POST /_sandbox/mailboxes/{email}/response) changes the organizer's copy as Exchange does."""

from datetime import UTC, datetime

from exchangelib import Attendee, CalendarItem, EWSDateTime, Mailbox
from exchangelib.items import SEND_TO_ALL_AND_SAVE_COPY, SEND_TO_NONE


def _meeting(account, subject="Board", attendees=("guest@example.com",)):
    item = CalendarItem(account=account, folder=account.calendar, subject=subject,
                        start=EWSDateTime.from_datetime(datetime(2027, 5, 4, 10, tzinfo=UTC)),
                        end=EWSDateTime.from_datetime(datetime(2027, 5, 4, 11, tzinfo=UTC)),
                        required_attendees=[Attendee(mailbox=Mailbox(email_address=a), response_type="Unknown")
                                            for a in attendees] or None)
    item.save(send_meeting_invitations=SEND_TO_NONE)
    return item


def _sends(control, mailbox, item_id):
    listing = control.get(f"/mailboxes/{mailbox}").json()
    return next(i["meeting_sends"] for f in listing["folders"] for i in f["items"] if i["id"] == item_id)


def test_each_update_records_what_it_asked_to_send(account, control, mailbox):
    item = _meeting(account)
    assert _sends(control, mailbox, item.id) == []
    item.subject = "Board (quiet)"
    item.save(update_fields=["subject"], send_meeting_invitations=SEND_TO_NONE)
    item.subject = "Board (announced)"
    item.save(update_fields=["subject"], send_meeting_invitations=SEND_TO_ALL_AND_SAVE_COPY)
    assert _sends(control, mailbox, item.id) == ["SendToNone", "SendToAllAndSaveCopy"]
    assert account.calendar.get(id=item.id).subject == "Board (announced)"


def test_an_attendee_response_changes_the_organizers_copy_only(account, control, mailbox):
    item = _meeting(account, attendees=("guest@example.com", "cfo@example.com"))
    before = account.calendar.get(id=item.id)
    answer = control.post(f"/mailboxes/{mailbox}/response",
                          {"item_id": item.id, "attendee": "CFO@example.com", "response": "Decline"})
    assert answer.status_code == 200, answer.text
    after = account.calendar.get(id=item.id)
    assert after.changekey != before.changekey and after.subject == before.subject
    responses = {a.mailbox.email_address: a.response_type for a in after.required_attendees}
    assert responses == {"guest@example.com": "Unknown", "cfo@example.com": "Decline"}
    assert after.required_attendees[1].last_response_time is not None
    assert _sends(control, mailbox, item.id) == []  # a response is no update of the organizer's


def test_a_response_is_refused_for_an_unknown_item_attendee_or_answer(account, control, mailbox):
    item = _meeting(account)
    for body, status in (({"item_id": "nope", "attendee": "guest@example.com"}, 404),
                         ({"item_id": item.id, "attendee": "nobody@example.com"}, 404),
                         ({"item_id": item.id, "attendee": "guest@example.com", "response": "Maybe"}, 400)):
        assert control.post(f"/mailboxes/{mailbox}/response", body).status_code == status
