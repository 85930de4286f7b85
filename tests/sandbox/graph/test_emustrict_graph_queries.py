"""Never silently ignore (issue 17 item 9, Graph): query options and $filter functions the Outlook resources do not
take are refused with Graph's 400 and its error code, never evaluated as if supported; what they do take works."""

import pytest

from .conftest import error_code


@pytest.fixture
def people(mb):
    folder = mb.ok("post", "contactFolders", 201, json={"displayName": "Salesforce_Sync"})
    base = f"contactFolders/{folder['id']}/contacts"
    for given, surname in (("Ada", "Lovelace"), ("Alan", "Turing")):
        mb.ok("post", base, 201, json={"givenName": given, "surname": surname, "displayName": f"{given} {surname}"})
    return base


def test_supported_filter_functions_work(mb, people):
    found = mb.ok("get", people, params={"$filter": "startswith(displayName,'Ada')"})["value"]
    assert [c["displayName"] for c in found] == ["Ada Lovelace"]


@pytest.mark.parametrize("flt", ["endswith(displayName,'Turing')", "tolower(displayName) eq 'ada lovelace'",
                                 "length(surname) gt 3", "startswith(givenName,'A') and endswith(surname,'ce')"])
def test_filter_functions_outlook_does_not_take_are_refused(mb, people, flt):
    response = mb.get(people, params={"$filter": flt})
    assert response.status_code == 400, response.text
    assert error_code(response) == "ErrorInvalidUrlQueryFilter"
    assert response.json()["error"]["message"] == "The query filter contains one or more invalid nodes."


@pytest.mark.parametrize("path", ["contacts", "events", "calendarView?startDateTime=2027-01-01T00:00:00Z"
                                  "&endDateTime=2027-02-01T00:00:00Z"])
def test_search_is_refused_not_ignored(mb, people, path):
    response = mb.get(path, params={"$search": '"ada"'})
    assert response.status_code == 400, response.text
    assert "$search" in response.json()["error"]["message"]


def test_events_filter_refuses_endswith(mb):
    response = mb.get("events", params={"$filter": "endswith(subject,'review')"})
    assert response.status_code == 400 and error_code(response) == "ErrorInvalidUrlQueryFilter"
