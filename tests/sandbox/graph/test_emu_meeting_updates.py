"""Graph sends the attendees an update whenever the organizer's copy of a meeting changes (it has no "send to
none"): the emulator delivers nothing but counts the updates per event, for the control API, so a test can see that
a write notified the attendees (and that the sync's stamp, an extended property, did not)."""

from tests.sandbox.graph.conftest import SF_ID_PROP


def _event(subject, **extra):
    return {"subject": subject, "start": {"dateTime": "2027-05-04T10:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2027-05-04T11:00:00", "timeZone": "UTC"}, **extra}


def _updates_sent(tenant, upn, event_id):
    listing = tenant.control("GET", f"/mailboxes/{upn}", expect=200).json()
    return next(e["updates_sent"] for e in listing["events"] if e["id"] == event_id)


def test_a_change_to_an_organized_meeting_is_counted_as_an_update_sent(tenant, mb):
    meeting = mb.ok("post", "calendar/events", 201, json=_event(
        "Board", attendees=[{"type": "required", "emailAddress": {"address": "x@example.com"}}]))["id"]
    alone = mb.ok("post", "calendar/events", 201, json=_event("Focus"))["id"]
    assert _updates_sent(tenant, mb.upn, meeting) == 0
    stamp = {"singleValueExtendedProperties": [{"id": SF_ID_PROP, "value": "00U000000000001AAA"}]}
    mb.ok("patch", f"events/{meeting}", json=stamp)
    assert _updates_sent(tenant, mb.upn, meeting) == 0  # an extended property is nothing attendees see
    mb.ok("patch", f"events/{meeting}", json={"subject": "Board (moved)"})
    mb.ok("patch", f"events/{alone}", json={"subject": "Focus (moved)"})
    assert _updates_sent(tenant, mb.upn, meeting) == 1
    assert _updates_sent(tenant, mb.upn, alone) == 0  # no attendees, nobody to tell
