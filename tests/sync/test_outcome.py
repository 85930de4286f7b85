"""What a run's result means, without a database (no db fixture: pytest-django refuses any query here): the state
it leaves, the run's own state, the failure streak and when the object is due again (back-off)."""

from datetime import UTC, datetime, timedelta

import pytest

from sync.outcome import RunResult, failures_after, next_due, run_state, state_after, synced

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
BACKOFF = {"backoff_base_seconds": 60, "backoff_cap_seconds": 3600}


def due(result, failures=1, interval=15, retry_after=None):
    return next_due(result, NOW, consecutive_failures=failures, interval_minutes=interval, retry_after=retry_after,
                    **BACKOFF)


@pytest.mark.parametrize(("result", "state", "run", "counts_as_sync"), [
    (RunResult.SUCCEEDED, "in_sync", "succeeded", True),
    (RunResult.RECORD_ERRORS, "error", "succeeded", True),
    (RunResult.NEEDS_ATTENTION, "needs_attention", "failed", False),
    (RunResult.TRANSIENT_FAILURE, "error", "failed", False),
    (RunResult.PERMANENT_FAILURE, "error", "failed", False),
    (RunResult.DISABLED, "disabled", "succeeded", False),
])
def test_each_result_leaves_one_state(result, state, run, counts_as_sync):
    assert (state_after(result), run_state(result), synced(result)) == (state, run, counts_as_sync)


def test_every_result_is_covered():
    assert {state_after(result) for result in RunResult} <= {"in_sync", "error", "needs_attention", "disabled"}


@pytest.mark.parametrize(("result", "before", "after"), [
    (RunResult.TRANSIENT_FAILURE, 0, 1),
    (RunResult.PERMANENT_FAILURE, 4, 5),
    (RunResult.SUCCEEDED, 4, 0),
    (RunResult.RECORD_ERRORS, 4, 0),
    (RunResult.NEEDS_ATTENTION, 4, 4),
    (RunResult.DISABLED, 4, 4),
])
def test_the_failure_streak(result, before, after):
    assert failures_after(result, before) == after


@pytest.mark.parametrize("result", [RunResult.TRANSIENT_FAILURE, RunResult.PERMANENT_FAILURE])
def test_backoff_doubles_from_the_base_and_is_capped(result):
    delays = [due(result, failures=n) - NOW for n in range(1, 9)]
    assert delays == [timedelta(seconds=s) for s in (60, 120, 240, 480, 960, 1920, 3600, 3600)]


def test_backoff_never_comes_before_the_ends_retry_after():
    assert due(RunResult.TRANSIENT_FAILURE, failures=1, retry_after=600) == NOW + timedelta(seconds=600)
    assert due(RunResult.TRANSIENT_FAILURE, failures=3, retry_after=30) == NOW + timedelta(seconds=240)


@pytest.mark.parametrize("result", [RunResult.NEEDS_ATTENTION, RunResult.DISABLED])
def test_waiting_for_a_person_is_never_due(result):
    assert due(result) is None


@pytest.mark.parametrize("result", [RunResult.SUCCEEDED, RunResult.RECORD_ERRORS])
def test_a_sync_is_due_again_after_the_interval(result):
    assert due(result, failures=0, interval=15) == NOW + timedelta(minutes=15)
    assert due(result, failures=0, interval=None) == NOW + timedelta(minutes=10)



def test_the_dispatch_jitter_spreads_the_next_sync_but_never_a_back_off():
    """The spread is how load is smoothed now that no message is ever delayed in the broker."""
    spread = {"spread_seconds": 7.5}
    assert next_due(RunResult.SUCCEEDED, NOW, consecutive_failures=0, interval_minutes=15, **BACKOFF, **spread) == (
        NOW + timedelta(minutes=15, seconds=7.5))
    assert next_due(RunResult.TRANSIENT_FAILURE, NOW, consecutive_failures=1, interval_minutes=15, **BACKOFF,
                    **spread) == NOW + timedelta(seconds=60)
