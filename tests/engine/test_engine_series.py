"""Recurring series in the engine: the canonical recurrence field, its expansion, matching series, and records that
change shape (a series presented as its occurrences, or occurrences as their series: `ChangeSet.reshaped`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from engine_harness import BOTH, O2S, OL, S2O, SF, World
from hypothesis import given
from hypothesis import strategies as st

from sync.engine import SyncObject, match_keys, schema_for
from sync.engine.recurrence import DAYS, INSTANCES, Recurrence, first_occurrence, occurrence_starts

EVENTS = schema_for(SyncObject.EVENTS)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
WEEKLY = "pattern=weekly;interval=1;days=MO;until=2026-03-30;tz=UTC"


def series(subject: str = "Standup", recurrence: str = WEEKLY, start: datetime = START) -> dict:
    return {"subject": subject, "start": start, "end": start + timedelta(minutes=30), "recurrence": recurrence}


def occurrences_of(fields: dict) -> list[dict]:
    starts = occurrence_starts(Recurrence.parse(fields["recurrence"]), fields["start"])
    length = fields["end"] - fields["start"]
    return [{"subject": fields["subject"], "start": s, "end": s + length} for s in starts]


# ---- the canonical field ---------------------------------------------------------------------------------

def test_recurrence_is_compared_by_content():
    a = series(recurrence={"pattern": "weekly", "days": ["we", "MO"], "until": "2026-03-30", "tz": "Etc/UTC",
                           "interval": 1})
    b = series(recurrence="pattern=weekly;interval=1;days=MO,WE;until=2026-03-30;tz=GMT")
    assert EVENTS.canonicalize(a)["recurrence"] == "pattern=weekly;interval=1;days=MO,WE;until=2026-03-30;tz=UTC"
    assert EVENTS.content_hash(a) == EVENTS.content_hash(b)
    assert EVENTS.content_hash(a) != EVENTS.content_hash({**b, "recurrence": b["recurrence"].replace("MO,", "")})
    single = {k: v for k, v in a.items() if k != "recurrence"}
    # a single event hashes as it did before the field existed; a series never equals its first occurrence
    assert EVENTS.content_hash(single) == EVENTS.content_hash({**single, "recurrence": None})
    assert EVENTS.content_hash(single) != EVENTS.content_hash(a)


def test_an_invalid_recurrence_is_refused_never_dropped():
    for bad in ("pattern=weekly;interval=1", "pattern=hourly", "pattern=monthly;day=40", "pattern=daily;interval=0",
                "pattern=yearly;day=3"):
        with pytest.raises(ValueError):
            EVENTS.canonicalize(series(recurrence=bad))


recurrences = st.builds(
    Recurrence.of,
    st.sampled_from(["daily", "weekly", "monthly", "monthly_nth", "yearly", "yearly_nth"]),
    interval=st.integers(1, 4),
    days=st.lists(st.sampled_from(DAYS), min_size=1, max_size=3),
    day=st.integers(1, 31), instance=st.sampled_from(INSTANCES), month=st.integers(1, 12),
    until=st.one_of(st.none(), st.dates(date(2026, 1, 1), date(2030, 12, 31))),
    count=st.one_of(st.none(), st.integers(1, 60)),
    tz=st.sampled_from([None, "UTC", "Europe/Paris", "America/New_York"]),
)


@given(recurrences, st.dates(date(2025, 6, 1), date(2027, 6, 1)))
def test_text_round_trips_and_expansion_respects_the_range(recurrence, first):
    assert Recurrence.parse(recurrence.text()) == recurrence
    dates = list(recurrence.occurrence_dates(first, 200))
    assert dates == sorted(set(dates)) and all(d >= first for d in dates)
    if recurrence.until is not None:
        assert all(d <= recurrence.until for d in dates)
    if recurrence.count is not None:
        assert len(dates) <= recurrence.count
    assert recurrence.count_occurrences(first, 50) == min(len(list(recurrence.occurrence_dates(first, 51))), 51)
    if recurrence.pattern == "weekly":
        assert {DAYS[d.weekday()] for d in dates} <= set(recurrence.days)


def test_expansion_follows_salesforce_and_exchange_rules():
    def dates(text, first):
        return [d.isoformat() for d in Recurrence.parse(text).occurrence_dates(first)]

    # a day past the month's end is the month's last day
    assert dates("pattern=monthly;interval=1;day=31;until=2027-02-28", date(2026, 11, 30)) == [
        "2026-11-30", "2026-12-31", "2027-01-31", "2027-02-28"]
    # every other week, weeks starting on Sunday
    assert dates("pattern=weekly;interval=2;days=MO,WE;until=2026-11-30", date(2026, 11, 2)) == [
        "2026-11-02", "2026-11-04", "2026-11-16", "2026-11-18", "2026-11-30"]
    assert dates("pattern=monthly_nth;interval=1;days=FR;instance=last;count=3", date(2026, 11, 1)) == [
        "2026-11-27", "2026-12-25", "2027-01-29"]
    assert dates("pattern=yearly_nth;interval=1;days=MO,TU,WE,TH,FR;instance=first;month=5;count=2",
                 date(2026, 1, 1)) == ["2026-05-01", "2027-05-03"]


def test_times_of_day_stay_local_across_daylight_saving():
    paris = Recurrence.parse("pattern=daily;interval=7;count=3;tz=Europe/Paris")
    starts = occurrence_starts(paris, datetime(2026, 3, 22, 8, 0, tzinfo=UTC))  # 09:00 in Paris
    assert [s.hour for s in starts] == [8, 7, 7]
    # a range that begins on a day the pattern skips starts on the first day it produces
    tuesday = Recurrence.parse("pattern=weekly;interval=1;days=TU;count=2;tz=UTC")
    assert first_occurrence(tuesday, START, START + timedelta(hours=1)) == (
        START + timedelta(days=1), START + timedelta(days=1, hours=1))


def test_series_match_series_by_subject_first_start_and_pattern_only():
    keys = match_keys(SyncObject.EVENTS, EVENTS.canonicalize(series()))
    paris = series(recurrence=WEEKLY.replace("UTC", "Europe/Paris"))
    other_zone = match_keys(SyncObject.EVENTS, EVENTS.canonicalize(paris))
    first_occurrence_as_single = {k: v for k, v in series().items() if k != "recurrence"}
    assert keys == other_zone  # the zone's name is no part of the key (the ends name zones differently)
    assert keys != match_keys(SyncObject.EVENTS, EVENTS.canonicalize(first_occurrence_as_single))
    assert keys != match_keys(SyncObject.EVENTS, EVENTS.canonicalize(series(recurrence=WEEKLY.replace("MO", "TU"))))


# ---- changes of shape ---------------------------------------------------------------------------------------

def synced_series(world: World, origin=OL) -> tuple[str, str]:
    record_id = world.side(origin).add(series())
    world.sync()
    copy = world.counterpart(origin, record_id)
    assert copy is not None and world.side(origin.other).canonical(copy)["recurrence"] == WEEKLY
    return record_id, copy


@pytest.mark.parametrize("direction", [BOTH, O2S])
def test_a_series_becoming_occurrences_replaces_the_copy_whatever_the_deletion_option(direction):
    world = World("events", direction, propagate_deletions=False)
    master, copy = synced_series(world)
    occurrences = world.ol.reshape([master], occurrences_of(series()))
    sf_w, ol_w = world.writes_during(world.sync)
    assert sf_w == {"delete": 1, "create": 5} and "create" not in ol_w and "delete" not in ol_w
    assert copy not in world.sf.items
    assert sorted(r.fields["start"] for r in world.sf.live().values()) == [o["start"] for o in
                                                                         occurrences_of(series())]
    assert all(world.counterpart(OL, o) for o in occurrences) and len(world.links) == 5
    assert world.writes_during(world.sync) == ({}, {})
    # and back: the occurrences become one series again, the singles are replaced by one Salesforce series
    world.ol.reshape(occurrences, [series()])
    sf_w, ol_w = world.writes_during(world.sync)
    assert sf_w == {"delete": 5, "create": 1} and len(world.sf.live()) == 1 and len(world.links) == 1


def test_a_reshape_on_the_target_of_a_one_way_direction_deletes_nothing():
    world = World("events", S2O)
    original, copy = synced_series(world, origin=SF)
    world.ol.reshape([copy], occurrences_of(series()))  # Outlook is not a source: nothing is sent or deleted
    assert world.writes_during(world.sync) == ({}, {})
    assert original in world.sf.items
    world.sf.edit(original, subject="Renamed")
    plan = world.sync().plan
    # the copy (the Outlook series, which still exists in Outlook) is updated in place, never created beside itself
    assert [(a.kind.value, a.side, a.record_id) for a in plan.actions if a.is_write] == [("update", OL, copy)]


def test_reshaping_many_records_does_not_trip_the_mass_delete_guard_but_deleting_them_does():
    world = World("events", BOTH, propagate_deletions=True)
    ids = []
    for n in range(4):
        fields = series(subject=f"Series {n}")
        ids.append(world.ol.reshape([], occurrences_of(fields)))
    world.sync()
    assert len(world.links) == 20
    for n, occurrences in enumerate(ids):
        world.ol.reshape(occurrences, [series(subject=f"Series {n}")])
    outcome = world.sync()
    assert outcome.refusal is None and len(world.sf.live()) == 4 and len(world.links) == 4
    for record_id in list(world.ol.items):
        world.ol.remove(record_id)
    world.ol.add({"subject": "keep", "start": START, "end": START})
    assert world.sync().refusal is None  # 4 of 4 linked: below the guard's minimum of 10 deletions


def test_a_series_whose_stamped_copy_is_gone_is_created_not_deleted():
    world = World("events", BOTH, propagate_deletions=True)
    item = world.ol.add(series(), salesforce_id="sf-gone")
    sf_w, ol_w = world.writes_during(lambda: world.sync(full=True))
    assert sf_w["create"] == 1 and "delete" not in ol_w and item in world.ol.items


def test_upgrade_from_occurrence_links_matches_the_series_and_writes_nothing():
    """Both ends held the same series; the old sync linked their occurrences pairwise. Once both present the series
    as one record, the occurrence links go and the two series are matched, not copied."""
    world = World("events", BOTH, propagate_deletions=True)
    sf_occurrences = world.sf.reshape([], occurrences_of(series()))
    ol_occurrences = world.ol.reshape([], occurrences_of(series()))
    world.sync()
    assert len(world.links) == 5 and world.writes_during(world.sync) == ({}, {})
    sf_master = world.sf.reshape(sf_occurrences, [series()])[0]
    ol_master = world.ol.reshape(ol_occurrences, [series()])[0]
    sf_w, ol_w = world.writes_during(lambda: world.sync(full=True))
    assert not sf_w and not ol_w
    assert world.counterpart(SF, sf_master) == ol_master and len(world.links) == 1


# ---- a property: any sequence of changes of shape converges ----------------------------------------------------

PATTERNS = ["pattern=daily;interval=2;count=3;tz=UTC", WEEKLY, "pattern=monthly;interval=1;day=2;count=2;tz=UTC"]


def _shapes(world: World, side) -> list[tuple]:
    return sorted((c.get("subject"), str(c.get("start")), str(c.get("end")), c.get("recurrence") or "")
                  for c in (EVENTS.canonicalize(r.fields) for r in world.side(side).live().values()))


@given(
    direction=st.sampled_from([BOTH, O2S]),
    propagate=st.booleans(),
    protocol=st.sampled_from(["ews", "graph"]),
    steps=st.lists(st.tuples(st.sampled_from(["reshape", "sync", "new"]), st.sampled_from([OL, SF]),
                             st.integers(0, 5)), max_size=14),
)
def test_any_sequence_of_reshapes_converges_without_duplicates(direction, propagate, protocol, steps):
    """On either protocol's Outlook. On Graph ids are stable across changes of shape: a series split into its
    occurrences and joined again comes back with its master's id and stamp, and an occurrence with its own id (both
    derived from the master), never reported reshaped and present in the same read."""
    world = World("events", direction, propagate_deletions=propagate)
    count = 0
    stable = protocol == "graph"
    masters: dict[str, tuple[str, str | None]] = {}  # Graph, Outlook: subject of a split series → its master
    occurrence_ids: dict[tuple, str] = {}  # Graph, Outlook: (subject, start) → the occurrence's id

    def split(side, chosen, fields):
        if not (stable and side is OL):
            world.side(side).reshape([chosen], occurrences_of(fields))
            return
        masters[fields["subject"]] = (chosen, world.ol.items[chosen].salesforce_id)
        world.ol.reshape([chosen], [])
        for occurrence in occurrences_of(fields):
            key = (occurrence["subject"], occurrence["start"])
            occurrence_ids[key] = world.ol.add(occurrence, record_id=occurrence_ids.get(key))

    def join(side, parts, fields):
        master = masters.pop(fields["subject"], None) if stable and side is OL else None
        if master is None or master[0] in world.ol.items:
            world.side(side).reshape(parts, [fields])
            return
        world.ol.reshape(parts, [])
        world.ol.add(fields, record_id=master[0], salesforce_id=master[1])

    def new_series(side, n):
        nonlocal count
        count += 1
        fields = series(subject=f"S{count}", recurrence=PATTERNS[n % 3], start=START + timedelta(days=n, hours=count))
        world.side(side).add(fields)

    def reshape(side, n):
        records = world.side(side).live()
        whole = sorted(i for i, r in records.items() if r.fields.get("recurrence"))
        if whole and n % 2 == 0:
            chosen = whole[n % len(whole)]
            split(side, chosen, records[chosen].fields)
            return
        subjects = sorted({r.fields["subject"] for r in records.values() if not r.fields.get("recurrence")})
        if subjects:
            subject = subjects[n % len(subjects)]
            parts = sorted((i for i, r in records.items() if r.fields["subject"] == subject),
                           key=lambda i: records[i].fields["start"])
            first = records[parts[0]].fields
            pattern = None
            original = {"subject": subject, "start": first["start"], "end": first["end"]}
            starts = [records[i].fields["start"] for i in parts]
            for text in PATTERNS:
                candidate = {**original, "recurrence": text}
                if [o["start"] for o in occurrences_of(candidate)] == starts:
                    pattern = text
                    break
            if pattern is not None:
                join(side, parts, {**original, "recurrence": pattern})

    for action, side, n in steps:
        if direction is O2S:
            side = OL  # Salesforce is the target: its shape only ever changes with what is written to it
        if action == "new":
            new_series(side, n)
        elif action == "reshape":
            reshape(side, n)
        else:
            assert world.sync().refusal is None
            assert _shapes(world, SF) == _shapes(world, OL)  # the same entries, in the same shapes, once each
            assert world.writes_during(world.sync) == ({}, {})
    assert world.sync().refusal is None
    assert _shapes(world, SF) == _shapes(world, OL)
