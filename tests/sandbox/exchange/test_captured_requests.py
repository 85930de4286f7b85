"""Replays the exact requests exchangelib 5.6.0 sends (tests/data/ews/exchangelib_captured_requests) as raw HTTP
posts and checks the answers. The captures use user@example.com and harness ids; the replay swaps in a sandbox
mailbox, and ids the emulator handed out, and also checks that the harness ids get Exchange's errors."""

import re

import pytest
import requests
from exchangelib import Contact
from exchangelib.folders import Contacts
from lxml import etree

from .conftest import DATA, make_account

CAPTURED = DATA / "exchangelib_captured_requests"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"


@pytest.fixture
def replay(sandbox, mailbox):
    def _replay(scenario: str, prefix: str, subs: dict | None = None):
        path = next((CAPTURED / scenario).glob(f"{prefix}_*_request.xml"))
        body = path.read_text(encoding="utf-8").replace("user@example.com", mailbox)
        for old, new in (subs or {}).items():
            body = body.replace(old, new)
        r = requests.post(sandbox.ews_endpoint, data=body.encode(), auth=(mailbox, "sandbox"), timeout=30,
                          headers={"Content-Type": "text/xml; charset=utf-8", "X-AnchorMailbox": mailbox})
        assert r.status_code == 200, r.text[:1000]
        root = etree.fromstring(r.content)
        assert root.find(f"{{{SOAP}}}Header/{{{T}}}ServerVersionInfo") is not None
        return root

    return _replay


def messages(root):
    out = []
    for rm in root.find(f"{{{SOAP}}}Body")[0].find(f"{{{M}}}ResponseMessages"):
        out.append((rm.get("ResponseClass"), rm.find(f"{{{M}}}ResponseCode").text, rm))
    return out


def ok(root):
    msgs = messages(root)
    assert [(c, code) for c, code, _ in msgs] == [("Success", "NoError")] * len(msgs), msgs
    return [rm for _, _, rm in msgs]


def item_ids(root):
    return [(e.get("Id"), e.get("ChangeKey")) for e in root.iter(f"{{{T}}}ItemId")]


def test_calendar_scenarios(replay):
    root_folder = ok(replay("01_calendar_all", "01"))[0]
    assert root_folder.find(f"{{{M}}}Folders/{{{T}}}Folder/{{{T}}}FolderId") is not None
    calendar = ok(replay("01_calendar_all", "02"))[0]
    assert calendar.find(f"{{{M}}}Folders/{{{T}}}CalendarFolder/{{{T}}}DisplayName").text == "Calendar"
    # 03: bulk create (one event, 2024-05-01 .. 2024-05-31)
    created = replay("03_bulk_create", "03")
    ok(created)
    (item_id, change_key), = item_ids(created)
    assert item_id.startswith("AAMk") and change_key
    # a second event in July, outside the filters below
    later = replay("03_bulk_create", "03", {"2024-05-01T00:00:00Z": "2024-07-01T00:00:00Z",
                                           "2024-05-31T00:00:00Z": "2024-07-02T00:00:00Z"})
    (later_id, _), = item_ids(later)
    # 01: calendar.all() -> FindItem then GetItem
    found = replay("01_calendar_all", "03")
    ok(found)
    assert {i for i, _ in item_ids(found)} == {item_id, later_id}
    bogus = messages(replay("01_calendar_all", "04"))
    assert [(c, code) for c, code, _ in bogus] == [("Error", "ErrorInvalidIdMalformed")]
    fetched = replay("01_calendar_all", "04", {"aXRlbTE=": item_id, "ick1": change_key})
    ok(fetched)
    assert item_ids(fetched)[0] == (item_id, change_key)
    # 02: filter(start__range=...)
    filtered = replay("02_calendar_filter_start_range", "03")
    ok(filtered)
    assert [i for i, _ in item_ids(filtered)] == [item_id]
    # 10: calendar.view(...)
    view = replay("10_calendar_view", "03")
    ok(view)
    assert [i for i, _ in item_ids(view)] == [item_id]
    # 04: bulk update; replaying it with the now stale change key conflicts on the same property
    updated = replay("04_bulk_update", "03", {"aXRlbTE=": item_id, "ick1": change_key})
    ok(updated)
    (_, new_key), = item_ids(updated)
    assert new_key != change_key
    stale = messages(replay("04_bulk_update", "03", {"aXRlbTE=": item_id, "ick1": change_key}))
    assert [code for _, code, _ in stale] == ["ErrorIrresolvableConflict"]
    subject = replay("01_calendar_all", "04", {"aXRlbTE=": item_id, "ick1": new_key,
                                               "<t:AdditionalProperties>": '<t:AdditionalProperties>'
                                                                          '<t:FieldURI FieldURI="item:Subject"/>'})
    assert subject.find(f".//{{{T}}}Subject").text == "changed"
    # 05: bulk delete
    assert [code for _, code, _ in messages(replay("05_bulk_delete", "01"))] == ["ErrorInvalidIdMalformed"]
    ok(replay("05_bulk_delete", "01", {"aXRlbTE=": item_id, "ick1": new_key}))
    gone = messages(replay("05_bulk_delete", "01", {"aXRlbTE=": item_id, "ick1": new_key}))
    assert [code for _, code, _ in gone] == ["ErrorItemNotFound"]


def test_sync_items_scenario(replay):
    replay("03_bulk_create", "03")
    first = replay("06_sync_items", "03")
    (rm,) = ok(first)
    state = rm.find(f"{{{M}}}SyncState").text
    assert rm.find(f"{{{M}}}IncludesLastItemInRange").text == "true"
    creates = rm.findall(f"{{{M}}}Changes/{{{T}}}Create/{{{T}}}CalendarItem")
    assert len(creates) == 1 and creates[0].find(f"{{{T}}}Subject").text == "SF event"
    assert creates[0].find(f"{{{T}}}Start").text == "2024-05-01T00:00:00Z"
    # The harness state is garbage to a real server.
    bad = messages(replay("06_sync_items", "04"))
    assert [code for _, code, _ in bad] == ["ErrorInvalidSyncStateData"]
    (again,) = ok(replay("06_sync_items", "04", {"STATE1": state}))
    assert len(again.find(f"{{{M}}}Changes")) == 0


def test_subfolder_scenarios(sandbox, mailbox, replay):
    for prefix in ("01", "02"):
        ok(replay("07_contacts_floordiv_subfolder", prefix))
    (empty,) = ok(replay("07_contacts_floordiv_subfolder", "03"))
    assert empty.find(f"{{{M}}}RootFolder").get("TotalItemsInView") == "0"
    account = make_account(sandbox, mailbox)
    created = Contacts(parent=account.contacts, name="Salesforce_Sync")
    created.save()
    (found,) = ok(replay("07_contacts_floordiv_subfolder", "03"))
    folder = found.find(f"{{{M}}}RootFolder/{{{T}}}Folders/{{{T}}}ContactsFolder")
    assert folder.find(f"{{{T}}}DisplayName").text == "Salesforce_Sync"
    folder_id = folder.find(f"{{{T}}}FolderId").get("Id")
    assert folder_id == created.id
    bogus = messages(replay("07_contacts_floordiv_subfolder", "04"))
    assert [code for _, code, _ in bogus] == ["ErrorInvalidIdMalformed"]
    (got,) = ok(replay("07_contacts_floordiv_subfolder", "04", {"U2FsZXNmb3JjZV9TeW5j": folder_id}))
    assert got.find(f".//{{{T}}}DisplayName").text == "Salesforce_Sync"
    for prefix in ("01", "02", "04"):
        ok(replay("08_contacts_truediv_subfolder", prefix))
    # 03 is exchangelib resolving every well-known folder at once: folders this mailbox has answer, the rest
    # (voicemail, favorites, ... which not every Exchange 2016 mailbox has) get ErrorFolderNotFound, in order, and
    # names only Exchange Online knows (directory) get ErrorInvalidOperation, as exchangelib expects (roots.py).
    from sandbox.exchange.store import DISTINGUISHED, KNOWN_DISTINGUISHED

    request = next((CAPTURED / "08_contacts_truediv_subfolder").glob("03_*_request.xml")).read_text()
    asked = re.findall(r'DistinguishedFolderId Id="(\w+)"', request)
    answers = messages(replay("08_contacts_truediv_subfolder", "03"))
    assert len(answers) == len(asked) > 20
    for name, (_, code, _) in zip(asked, answers, strict=True):
        expected = "NoError" if name in DISTINGUISHED else \
            "ErrorFolderNotFound" if name in KNOWN_DISTINGUISHED else "ErrorInvalidOperation"
        assert code == expected, name
    assert sum(name in DISTINGUISHED for name in asked) >= 20
    ok(replay("08_contacts_truediv_subfolder", "05", {"U2FsZXNmb3JjZV9TeW5j": folder_id}))


def test_resolve_names_scenario(sandbox, mailbox, replay):
    nobody = messages(replay("09_resolve_names", "01"))
    assert [(c, code) for c, code, _ in nobody] == [("Error", "ErrorNameResolutionNoResults")]
    account = make_account(sandbox, mailbox)
    from exchangelib.indexed_properties import EmailAddress

    Contact(folder=account.contacts, display_name="Jane Roe", given_name="Jane", surname="Roe",
            email_addresses=[EmailAddress(label="EmailAddress1", email="jane.roe@client.test")]).save()
    (rm,) = ok(replay("09_resolve_names", "01"))
    resolution = rm.find(f"{{{M}}}ResolutionSet/{{{T}}}Resolution/{{{T}}}Mailbox")
    assert resolution.find(f"{{{T}}}EmailAddress").text == "jane.roe@client.test"
    assert resolution.find(f"{{{T}}}MailboxType").text == "Contact"


def test_version_guess_scenario(replay):
    root = replay("11_no_version_given_version_guess", "01")
    info = root.find(f"{{{SOAP}}}Header/{{{T}}}ServerVersionInfo")
    assert re.fullmatch(r"V20\d\d_\d\d_\d\d|Exchange20\d\d.*", info.get("Version"))
    assert [(c, code) for c, code, _ in messages(root)] == [("Error", "ErrorInvalidSmtpAddress")]
    ok(replay("11_no_version_given_version_guess", "02"))
    ok(replay("11_no_version_given_version_guess", "03"))
