"""Graph's patternedRecurrence ⇄ the canonical recurrence (series synced as series on Graph): every canonical
pattern Graph can hold survives the round trip, a count and an end date stay what they are, and an event that is
not a series never gets a `recurrence` property."""

from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from sync.engine.recurrence import DAYS, INSTANCES, Recurrence
from sync.mappings.graph import event_to_graph, recurrence_from_graph, recurrence_to_graph, series_fields

recurrences = st.builds(
    Recurrence.of,
    st.sampled_from(["daily", "weekly", "monthly", "monthly_nth", "yearly", "yearly_nth"]),
    interval=st.integers(1, 4),
    days=st.lists(st.sampled_from(DAYS), min_size=1, max_size=3),
    day=st.integers(1, 31), instance=st.sampled_from(INSTANCES), month=st.integers(1, 12),
    until=st.one_of(st.none(), st.dates(date(2026, 1, 1), date(2030, 12, 31))),
    count=st.one_of(st.none(), st.integers(1, 60)),
    tz=st.sampled_from(["UTC", "Europe/Paris", "America/New_York"]),
)


@given(recurrences)
def test_every_canonical_pattern_survives_the_round_trip(series):
    graph = recurrence_to_graph(series, date(2026, 3, 2))
    assert graph["range"]["startDate"] == "2026-03-02"
    assert recurrence_from_graph(graph) == series


def test_graph_names_are_read_whatever_their_case_and_zone():
    graph = {"pattern": {"type": "relativeMonthly", "interval": 2, "daysOfWeek": ["Tuesday"], "index": "last",
                         "dayOfMonth": 0, "month": 0, "firstDayOfWeek": "sunday"},
             "range": {"type": "endDate", "startDate": "2026-03-31", "endDate": "2026-12-31",
                       "recurrenceTimeZone": "Romance Standard Time", "numberOfOccurrences": 0}}
    assert recurrence_from_graph(graph).text() == \
        "pattern=monthly_nth;interval=2;days=TU;instance=last;until=2026-12-31;tz=Europe/Paris"
    no_end = {**graph, "range": {"type": "noEnd", "startDate": "2026-03-31", "endDate": "0001-01-01"}}
    assert recurrence_from_graph(no_end).until is None and recurrence_from_graph(no_end).count is None
    assert recurrence_from_graph(None) is None
    assert recurrence_from_graph({"pattern": {"type": "hourly"}, "range": {"type": "noEnd"}}) is None


def test_only_a_series_is_written_with_a_recurrence():
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    single = {"subject": "Lunch", "start": start, "end": start.replace(hour=9)}
    assert "recurrence" not in event_to_graph(single)
    assert "recurrence" not in event_to_graph({**single, "recurrence": None})
    written = event_to_graph({**single, "recurrence": "pattern=weekly;interval=1;days=MO;count=4;tz=Europe/Paris"})
    assert written["recurrence"]["pattern"] == {"type": "weekly", "interval": 1, "firstDayOfWeek": "sunday",
                                                "daysOfWeek": ["monday"]}
    # the first occurrence's date in the series' zone (09:00 in Paris)
    assert written["recurrence"]["range"] == {"startDate": "2026-03-02", "recurrenceTimeZone": "Europe/Paris",
                                              "type": "numbered", "numberOfOccurrences": 4}


def test_a_master_starting_before_its_first_occurrence_is_moved_to_it():
    monday = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    fields = series_fields(Recurrence.parse("pattern=weekly;interval=1;days=WE;until=2026-03-31;tz=UTC"),
                           {"subject": "S", "start": monday, "end": monday.replace(hour=9)})
    assert fields["start"] == datetime(2026, 3, 4, 8, 0, tzinfo=UTC) and fields["end"].hour == 9
    assert fields["recurrence"] == "pattern=weekly;interval=1;days=WE;until=2026-03-31;tz=UTC"
