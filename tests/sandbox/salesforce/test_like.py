"""LIKE in the Salesforce emulator: the same answers as SOQL's wildcards, in time linear in the text, so that a
query with many `%` cannot hold a server thread (a backtracking regular expression takes exponential time)."""

import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.salesforce.soql import like_matcher

_TEXT = st.text(alphabet="aAbB%_\\é", max_size=10)


def _as_regex(pattern: str) -> re.Pattern:
    """What LIKE means, written as the regular expression the emulator used to run (fine for short texts)."""
    parts, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern) and pattern[index + 1] in "%_":
            parts.append(re.escape(pattern[index + 1]))
            index += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    return re.compile("^" + "".join(parts) + "$", re.IGNORECASE | re.DOTALL)


@given(pattern=_TEXT, value=_TEXT)
def test_like_means_what_soql_means(pattern, value):
    assert like_matcher(pattern)(value) == bool(_as_regex(pattern).match(value))


@pytest.mark.parametrize("pattern, value, expected", [
    ("50\\%%", "50%_Off", True), ("%\\_%", "50%_Off", True), ("d%", "Dubois", True), ("_mith", "Smith", True),
    ("%", "", True), ("", "", True), ("_", "", False), ("a%a", "a", False), ("%ÉCOLE%", "une école", True),
])
def test_like_examples(pattern, value, expected):
    assert like_matcher(pattern)(value) is expected


@pytest.mark.parametrize("pattern, value", [
    ("%a" * 40 + "%b", "a" * 5_000),  # no b at the end: a regular expression tries every split of the a's
    ("%a" * 40 + "%", "b" * 5_000),
    ("%" + "_%" * 60 + "x", "y" * 5_000),
])
def test_many_wildcards_do_not_backtrack(pattern, value):
    started = time.perf_counter()
    like_matcher(pattern)(value)
    assert time.perf_counter() - started < 0.5


def test_a_hostile_like_query_answers_quickly(data):
    org, tokens, _ = data
    pattern = "%a" * 40 + "%b"  # against names of many a's: hopeless for a backtracking matcher
    started = time.perf_counter()
    response = org.rest(tokens["mgr"], "GET", "/query",
                        params={"q": f"SELECT LastName FROM Contact WHERE LastName LIKE '{pattern}'"})  # noqa: S608
    assert response.status_code == 200, response.text
    assert time.perf_counter() - started < 5


@pytest.fixture(scope="module")
def data(fresh_org):
    org = fresh_org
    mgr = org.user("Sales Manager")
    token = org.token(mgr["username"])
    body = {"allOrNone": True, "records": [{"attributes": {"type": "Contact"}, "LastName": "a" * 70}]}
    assert org.rest(token, "POST", "/composite/sobjects", json=body).status_code == 200
    return org, {"mgr": token}, {}
