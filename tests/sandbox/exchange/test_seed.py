"""The demo seed: every demo user's mailbox has contacts, a calendar with single, recurring (with a moved and a
cancelled occurrence) and private items, and tasks; seeding is deterministic and survives a restart."""

import pytest
import requests
from exchangelib import EWSDateTime, EWSTimeZone

from sandbox.demo import DEMO_USERS

from .conftest import make_account

UTC = EWSTimeZone("UTC")


@pytest.fixture(scope="module")
def demo(tmp_path_factory, spawn):
    running = spawn(tmp_path_factory.mktemp("ews-demo"), seed="demo")
    yield running
    running.stop()


def test_every_demo_user_has_a_seeded_mailbox(demo):
    for user in DEMO_USERS:
        acc = make_account(demo, user.email)
        assert acc.contacts.all().count() == 5
        assert acc.tasks.all().count() == 3
        assert acc.calendar.all().count() == 6


def test_seeded_calendar_content(demo):
    acc = make_account(demo, DEMO_USERS[0].email)
    items = {i.subject: i for i in acc.calendar.all()}
    assert items["Dentist"].sensitivity == "Private"
    assert items["Trade fair"].is_all_day is True
    assert items["Team stand-up"].type == "RecurringMaster"
    assert len(items["Team stand-up"].modified_occurrences) == 1
    assert len(items["Team stand-up"].deleted_occurrences) == 1
    assert items["Pipeline review with Northwind Traders"].required_attendees[0].response_type == "Accept"
    january = [o for o in acc.calendar.view(start=EWSDateTime(2026, 1, 1, tzinfo=UTC),
                                            end=EWSDateTime(2026, 2, 1, tzinfo=UTC))
               if o.subject == "Team stand-up"]
    # Mondays 5, 12, 19 (moved to 09:30), 26; the fifth occurrence (Feb 2) is cancelled and outside anyway.
    assert [(o.start.day, o.start.hour, o.start.minute) for o in january] == [(5, 8, 30), (12, 8, 30), (19, 9, 30),
                                                                            (26, 8, 30)]
    assert [o.type for o in january] == ["Occurrence", "Occurrence", "Exception", "Occurrence"]
    tasks = {t.subject: t for t in acc.tasks.all()}
    assert tasks["Update CRM notes"].is_complete is True


def test_seed_is_deterministic(demo, tmp_path, spawn):
    other = spawn(tmp_path, seed="demo")
    try:
        for user in DEMO_USERS[:2]:
            a = requests.get(f"{demo.exchange_url}/_sandbox/mailboxes/{user.email}", timeout=30).json()
            b = requests.get(f"{other.exchange_url}/_sandbox/mailboxes/{user.email}", timeout=30).json()
            strip = [(f["name"], [(i["id"], i["subject"]) for i in f["items"]]) for f in a["folders"]]
            assert strip == [(f["name"], [(i["id"], i["subject"]) for i in f["items"]]) for f in b["folders"]]
    finally:
        other.stop()
