"""The data set compiler: exact SOQL per object and scope, typed literals, escaping, and injection attempts."""

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from configurations import soql
from configurations.soql import DataSetError, compile_query, compile_where, data_set_view, escape_string

USER = "0058d0000000001AAA"
NOW = datetime(2026, 11, 22, 14, 30, tzinfo=UTC)


def contacts(**values):
    return data_set_view("contacts", **values)


def where_with(field, op, value, sync_object="contacts"):
    data_set = data_set_view(sync_object, scope="all_visible", filters=[{"field": field, "op": op, "value": value}])
    return compile_where(data_set, USER, NOW)


# A small SOQL lexer: string literals with backslash escapes, and everything else as separate tokens.
TOKEN = re.compile(r"\s*(?:(?P<string>'(?:\\.|[^'\\])*')|(?P<word>[A-Za-z_][\w.]*)|(?P<number>-?\d[\d.:TZ-]*)"
                   r"|(?P<op>!=|<=|>=|[=<>(),]))")


def tokens(where: str) -> list[tuple[str, str]]:
    out, position = [], 0
    while position < len(where):
        match = TOKEN.match(where, position)
        assert match and match.end() > position, f"cannot lex {where[position:]!r}"
        kind = match.lastgroup
        out.append((kind, match.group(kind)))
        position = match.end()
    return out


def unescape(literal: str) -> str:
    assert literal[0] == literal[-1] == "'"
    mapping = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}
    return re.sub(r"\\(.)", lambda m: mapping.get(m.group(1), m.group(1)), literal[1:-1])


class TestScopes:
    def test_my_contacts(self):
        assert compile_where(contacts(scope="my_contacts"), USER, NOW) == f"OwnerId = '{USER}'"

    def test_my_accounts_contacts(self):
        assert compile_where(contacts(scope="my_accounts_contacts"), USER, NOW) == f"Account.OwnerId = '{USER}'"

    def test_all_visible_has_no_owner_restriction(self):
        assert compile_where(contacts(scope="all_visible"), USER, NOW) == ""

    def test_filters_are_and_ed_after_the_scope(self):
        data_set = contacts(
            scope="my_contacts",
            filters=[
                {"field": "MailingCountry", "op": "equals", "value": "France"},
                {"field": "Account.NumberOfEmployees", "op": "greater_than", "value": 50},
            ],
        )
        assert compile_where(data_set, USER, NOW) == (
            f"OwnerId = '{USER}' AND MailingCountry = 'France' AND Account.NumberOfEmployees > 50"
        )

    def test_events_window_by_end_and_start(self):
        data_set = data_set_view("events", days_back=30, days_ahead=365)
        assert compile_where(data_set, USER, NOW) == (
            f"OwnerId = '{USER}' AND EndDateTime >= 2026-10-23T00:00:00Z AND StartDateTime <= 2027-11-22T23:59:59Z"
        )

    def test_events_zero_days(self):
        where = compile_where(data_set_view("events", days_back=0, days_ahead=0), USER, NOW)
        assert "EndDateTime >= 2026-11-22T00:00:00Z" in where
        assert "StartDateTime <= 2026-11-22T23:59:59Z" in where

    def test_tasks_open_or_closed_recently_by_due_date(self):
        where = compile_where(data_set_view("tasks", closed_days_back=30), USER, NOW)
        assert where == (
            f"OwnerId = '{USER}' AND (IsClosed = false OR (IsClosed = true AND ActivityDate >= 2026-10-23))"
        )

    def test_now_in_another_time_zone_is_converted_to_utc(self):
        from datetime import timedelta, timezone

        evening_in_new_york = datetime(2026, 11, 21, 20, 0, tzinfo=timezone(timedelta(hours=-5)))  # 01:00Z on 22nd
        where = compile_where(data_set_view("tasks", closed_days_back=0), USER, evening_in_new_york)
        assert "ActivityDate >= 2026-11-22" in where

    def test_full_query_with_limit(self):
        query = compile_query(contacts(scope="my_contacts", record_limit=5000), USER, ["Id", "Email"], NOW)
        expected = "SELECT Id, Email FROM Contact WHERE OwnerId = '" + USER + "' ORDER BY SystemModstamp ASC LIMIT 5000"  # noqa: S608
        assert query == expected

    def test_full_query_refuses_unknown_fields(self):
        with pytest.raises(DataSetError):
            compile_query(contacts(), USER, ["Id", "Password__c"], NOW)

    def test_compiles_a_model_instance_without_touching_the_database(self):
        from configurations.models import DataSet

        data_set = DataSet(object="contacts", scope="my_accounts_contacts",
                           filters=[{"field": "Title", "op": "starts_with", "value": "VP"}])
        assert compile_where(data_set, USER, NOW) == f"Account.OwnerId = '{USER}' AND Title LIKE 'VP%'"


class TestOperators:
    @pytest.mark.parametrize(
        ("field", "op", "value", "expected"),
        [
            ("MailingCountry", "equals", "France", "MailingCountry = 'France'"),
            ("MailingCountry", "not_equals", "France", "MailingCountry != 'France'"),
            ("Title", "contains", "Sales", "Title LIKE '%Sales%'"),
            ("Title", "starts_with", "VP", "Title LIKE 'VP%'"),
            ("LeadSource", "in", ["Web", "Phone"], "LeadSource IN ('Web', 'Phone')"),
            ("Account.AnnualRevenue", "greater_than", 1000000, "Account.AnnualRevenue > 1000000"),
            ("Account.AnnualRevenue", "less_than", "2.50", "Account.AnnualRevenue < 2.50"),
            ("Account.AnnualRevenue", "less_than", 2.5, "Account.AnnualRevenue < 2.5"),
            ("Account.NumberOfEmployees", "greater_than", "10", "Account.NumberOfEmployees > 10"),
            ("Email", "is_empty", True, "Email = null"),
            ("Email", "is_empty", False, "Email != null"),
            ("Email", "is_empty", None, "Email = null"),
            ("DoNotCall", "equals", False, "DoNotCall = false"),
            ("DoNotCall", "equals", "TRUE", "DoNotCall = true"),
            ("Birthdate", "greater_than", "1990-01-31", "Birthdate > 1990-01-31"),
            ("Birthdate", "in", ["1990-01-31", "1991-02-28"], "Birthdate IN (1990-01-31, 1991-02-28)"),
            ("CreatedDate", "greater_than", "2026-01-01T10:00:00+02:00", "CreatedDate > 2026-01-01T08:00:00Z"),
            ("CreatedDate", "less_than", "2026-01-01", "CreatedDate < 2026-01-01T00:00:00Z"),
            ("AccountId", "equals", "0018d00000000AbCDE", "AccountId = '0018d00000000AbCDE'"),
        ],
    )
    def test_literal_forms(self, field, op, value, expected):
        assert where_with(field, op, value) == expected

    def test_event_and_task_fields(self):
        assert where_with("Subject", "contains", "Review", "events").endswith("AND Subject LIKE '%Review%'")
        assert where_with("Priority", "equals", "High", "tasks").endswith("AND Priority = 'High'")

    @pytest.mark.parametrize(
        ("field", "op", "value", "key"),
        [
            ("Password__c", "equals", "x", "field"),
            ("Subject", "equals", "x", "field"),  # an Event field, not a Contact field
            ("Name; DELETE", "equals", "x", "field"),
            ("MailingCountry", "matches", "x", "op"),
            ("MailingCountry", "equals", 3, "value"),
            ("MailingCountry", "equals", None, "value"),
            ("MailingCountry", "in", [], "value"),
            ("MailingCountry", "in", "France", "value"),
            ("MailingCountry", "contains", "", "value"),
            ("MailingCountry", "equals", "a" * 256, "value"),
            ("MailingCountry", "equals", "nul\x00byte", "value"),
            ("DoNotCall", "contains", "x", "op"),
            ("DoNotCall", "equals", "yes", "value"),
            ("Account.NumberOfEmployees", "equals", "1 OR 1=1", "value"),
            ("Account.NumberOfEmployees", "equals", 1.5, "value"),
            ("Account.NumberOfEmployees", "equals", True, "value"),
            ("Account.NumberOfEmployees", "equals", "١٢", "value"),
            ("Account.AnnualRevenue", "equals", "٣.٥", "value"),
            ("Account.AnnualRevenue", "equals", "1e9", "value"),
            ("Account.AnnualRevenue", "equals", float("nan"), "value"),
            ("Birthdate", "equals", "2026-02-30", "value"),
            ("Birthdate", "equals", "TODAY OR Name != ''", "value"),
            ("CreatedDate", "equals", "yesterday", "value"),
            ("AccountId", "equals", "001' OR Name != '", "value"),
            ("AccountId", "equals", "0018d00000000AbCDE\n", "value"),
            ("Account.NumberOfEmployees", "equals", "12\n", "value"),
            ("Email", "is_empty", "yes", "value"),
        ],
    )
    def test_bad_filters_are_errors_naming_the_part(self, field, op, value, key):
        data_set = contacts(filters=[{"field": "Email", "op": "is_empty"}, {"field": field, "op": op, "value": value}])
        with pytest.raises(DataSetError) as raised:
            compile_where(data_set, USER, NOW)
        assert list(raised.value.errors["filters"]) == ["1"]
        assert key in raised.value.errors["filters"]["1"]

    def test_unknown_keys_and_non_dict_filters(self):
        assert soql.filter_errors("contacts", [{"field": "Email", "op": "is_empty", "extra": 1}]) == {
            "0": {"extra": ["Unknown key; a filter has field, op and value."]}
        }
        assert "non_field_errors" in soql.filter_errors("contacts", ["Email = null"])["0"]
        assert soql.filter_errors("contacts", "Email = null") == ["Enter a list of filters."]
        too_many = [{"field": "Email", "op": "is_empty"}] * (soql.MAX_FILTERS + 1)
        assert soql.filter_errors("contacts", too_many) == [f"Enter at most {soql.MAX_FILTERS} filters."]

    def test_user_id_is_checked(self):
        with pytest.raises(DataSetError):
            compile_where(contacts(), "005' OR Name != '", NOW)


class TestInjection:
    ATTEMPTS = [
        "x' OR Name != '",
        "x\\' OR Name != \\'",
        "\\",
        "'",
        "''",
        "France') OR (Name != '",
        "%",
        "_",
        "x%' OR Name LIKE '%",
        "a\nOR Name != null",
        'double " quote',
    ]

    @pytest.mark.parametrize("value", ATTEMPTS)
    @pytest.mark.parametrize("op", ["equals", "not_equals", "contains", "starts_with"])
    def test_a_value_stays_one_literal(self, value, op):
        where = where_with("MailingCountry", op, value)
        lexed = tokens(where)
        assert [kind for kind, _ in lexed] == ["word", "word" if op in ("contains", "starts_with") else "op", "string"]
        literal = lexed[2][1]
        if op in ("equals", "not_equals"):
            assert unescape(literal) == value
        else:
            pattern = unescape(literal)
            # The user's % and _ stay escaped in the pattern: only our own wildcards are live.
            live = re.sub(r"\\[%_\\]", "", literal[1:-1])
            assert live.count("%") == (2 if op == "contains" else 1)
            assert "_" not in live
            assert pattern.replace("%", "").replace("_", "") == value.replace("%", "").replace("_", "")

    def test_the_classic_attempt_is_escaped_exactly(self):
        assert where_with("Name", "equals", "x' OR Name != '") == "Name = 'x\\' OR Name != \\''"

    def test_like_wildcards_are_escaped(self):
        assert where_with("Name", "contains", "50%_off\\") == "Name LIKE '%50\\%\\_off\\\\%'"

    def test_in_lists_stay_literals(self):
        where = where_with("LeadSource", "in", ["a') OR (Name != '", "b"])
        assert [kind for kind, _ in tokens(where)] == ["word", "word", "op", "string", "op", "string", "op"]


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=60
)


# More examples than the profile: these guard against SOQL injection and cost a few milliseconds each.
@settings(max_examples=300)
@given(value=_text, op=st.sampled_from(["equals", "not_equals", "contains", "starts_with"]))
def test_any_text_value_is_exactly_one_literal_or_refused(value, op):
    try:
        where = where_with("Description", op, value)
    except DataSetError as exc:
        assert exc.errors["filters"]["0"].keys() == {"value"}
        assert re.search(r"[\x00-\x08\x0b\x0e-\x1f\x7f]", value)
        return
    lexed = tokens(where)
    assert len(lexed) == 3
    assert lexed[0] == ("word", "Description")
    assert lexed[2][0] == "string"
    if op in ("equals", "not_equals"):
        assert unescape(lexed[2][1]) == value


@settings(max_examples=150)
@given(values=st.lists(_text, min_size=1, max_size=5), scope=st.sampled_from(["my_contacts", "my_accounts_contacts"]))
def test_in_lists_of_any_text_keep_the_query_shape(values, scope):
    data_set = contacts(scope=scope, filters=[{"field": "Department", "op": "in", "value": values}])
    try:
        where = compile_where(data_set, USER, NOW)
    except DataSetError:
        return
    kinds = [kind for kind, _ in tokens(where)]
    assert kinds[:3] == ["word", "op", "string"]  # the owner restriction is intact
    assert kinds[3:] == ["word", "word", "word", "op"] + ["string", "op"] * len(values)


@settings(max_examples=100)
@given(value=st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=30), st.booleans()))
def test_numbers_are_numbers_or_refused(value):
    try:
        where = where_with("Account.AnnualRevenue", "greater_than", value)
    except DataSetError:
        return
    literal = where.split(" > ", 1)[1]
    assert re.fullmatch(r"-?\d+(\.\d+)?", literal)


def test_escape_string_round_trips():
    for value in ["plain", "it's", "back\\slash", "new\nline", "tab\t"]:
        assert unescape(f"'{escape_string(value)}'") == value


def test_all_visible_without_filters_has_no_where():
    query = compile_query(contacts(scope="all_visible"), USER, ["Id"], NOW)
    assert query == "SELECT Id FROM Contact ORDER BY SystemModstamp ASC"


def test_private_events_are_left_out_unless_the_setting_syncs_them():
    from configurations.models import DataSetting

    events = data_set_view("events", days_back=1, days_ahead=1)
    assert compile_where(events, USER, NOW, DataSetting(object="events")).endswith(" AND IsPrivate = false")
    syncing_private = DataSetting(object="events", sync_private_events=True)
    assert "IsPrivate" not in compile_where(events, USER, NOW, syncing_private)
    assert "IsPrivate" not in compile_where(events, USER, NOW)
