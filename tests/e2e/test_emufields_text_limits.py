"""Issue 17, item 3, end to end on both Exchange protocols: a text longer than an end holds is written cut to what
both ends hold (Salesforce: Contact FirstName 40, LastName 80, Title 128; Exchange: a Subject of 255 UTF-16 code
units), the run notes the cut on the record (an informational `value_truncated`, not a failure), and the next sync
writes nothing, whichever end the long value came from."""

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sync.engine.canonical import cut_text, text_length
from tests.e2e.test_sync_user import _salesforce_event, last_run, only, sync

pytestmark = pytest.mark.e2e

pieces = st.sampled_from(["a", "Z", "é", "ß", "漢", "🙂", " ", "-"])


def texts(low: int, high: int):
    return st.lists(pieces, min_size=low, max_size=high).map(lambda p: "".join(p).strip() or "x")


SETTINGS = settings(max_examples=3, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def cut(value: str, limit: int) -> str:
    return " ".join(cut_text(" ".join(value.split()), limit).split())


def quiet(person, object_type: str) -> None:
    """The next sync writes nothing on either end."""
    assert sync(person) == 0
    counts = last_run(person, object_type).counts
    assert counts["salesforce"] == {} and counts["outlook"] == {}, counts


@SETTINGS
@example(first="🙂" * 60, last="Ñ" * 90, title="漢" * 130)
@given(first=texts(41, 90), last=texts(81, 140), title=texts(129, 200))
def test_long_outlook_names_reach_salesforce_cut_once_and_converge(either_world, first, last, title):
    person = either_world.person()
    either_world.configure(person, contacts={"direction": "both", "conflict_behavior": "salesforce_wins"})
    item = person.outlook.create_contact(first, last)
    person.outlook.update_contact(item, job_title=title)
    assert sync(person) == 0, last_run(person, "contacts").error_message
    row = only(person.salesforce.query_all("SELECT Id, FirstName, LastName, Title FROM Contact")["records"])
    assert (row["FirstName"], row["LastName"], row["Title"]) == (cut(first, 40), cut(last, 80), cut(title, 128))
    run = last_run(person, "contacts")
    assert run.state == "succeeded"
    notes = list(run.record_errors.values_list("code", "message"))
    assert {code for code, _ in notes} == {"value_truncated"}
    assert any("first name" in message and "Salesforce" in message for _, message in notes)
    quiet(person, "contacts")
    # Outlook keeps its longer names until Salesforce changes the contact; then both hold the cut ones, still quiet.
    person.salesforce.Contact.update(row["Id"], {"Department": "Buying"})
    assert sync(person) == 0
    assert only(person.outlook.contacts())["given_name"] == cut(first, 40)
    quiet(person, "contacts")


@SETTINGS
@example(subject="🙂" * 200)
@given(subject=texts(120, 255))
def test_long_multibyte_salesforce_subjects_reach_outlook_cut_once_and_converge(either_world, subject):
    person = either_world.person()
    either_world.configure(person, events={"direction": "both", "conflict_behavior": "salesforce_wins"})
    _salesforce_event(person, subject)  # Salesforce holds 255 characters; Exchange counts an emoji as two
    assert sync(person) == 0, last_run(person, "events").error_message
    written = only(person.outlook.events())["subject"]
    assert written == cut(subject, 255) and text_length(written) <= 255
    quiet(person, "events")
