"""What a run's result means, as pure functions: the state it leaves, whether the run counts as a success, and
when the object is due again (back-off after failures). No database: unit-tested in milliseconds."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from sync.models import SyncRun
from users.models import SyncState


class RunResult(enum.Enum):
    """How one run ended, from the user's object's point of view."""

    SUCCEEDED = "succeeded"  # everything synced
    RECORD_ERRORS = "record_errors"  # the run completed, some records failed: retried at the next sync
    NEEDS_ATTENTION = "needs_attention"  # a person must act first (permission, folder, guard, data set)
    TRANSIENT_FAILURE = "transient_failure"  # an end was unavailable for now: retried with back-off
    PERMANENT_FAILURE = "permanent_failure"  # an end refused the run: retried with back-off all the same
    DISABLED = "disabled"  # nothing to sync (no configuration, inactive user, object not synced)


DEFAULT_INTERVAL_MINUTES = 10

_STATES = {
    RunResult.SUCCEEDED: SyncState.IN_SYNC,
    RunResult.RECORD_ERRORS: SyncState.ERROR,
    RunResult.NEEDS_ATTENTION: SyncState.NEEDS_ATTENTION,
    RunResult.TRANSIENT_FAILURE: SyncState.ERROR,
    RunResult.PERMANENT_FAILURE: SyncState.ERROR,
    RunResult.DISABLED: SyncState.DISABLED,
}
# A run that did its job, even with per-record errors or nothing to do, is recorded as succeeded.
_RUN_SUCCEEDED = frozenset({RunResult.SUCCEEDED, RunResult.RECORD_ERRORS, RunResult.DISABLED})
# Results after which the ends were reached and the sync went through: the failure streak ends.
_SYNCED = frozenset({RunResult.SUCCEEDED, RunResult.RECORD_ERRORS})
_BACKS_OFF = frozenset({RunResult.TRANSIENT_FAILURE, RunResult.PERMANENT_FAILURE})
_WAITS_FOR_A_PERSON = frozenset({RunResult.NEEDS_ATTENTION, RunResult.DISABLED})


def state_after(result: RunResult) -> SyncState:
    """The user's object's state once a run with this result has finished."""
    return _STATES[result]


def run_state(result: RunResult) -> SyncRun.State:
    """The SyncRun's own terminal state."""
    return SyncRun.State.SUCCEEDED if result in _RUN_SUCCEEDED else SyncRun.State.FAILED


def synced(result: RunResult) -> bool:
    """Whether the run counts as the object's last success (and ends its failure streak)."""
    return result in _SYNCED


def failures_after(result: RunResult, consecutive_failures: int) -> int:
    """The failure streak after this run: one longer after a failure, none after a sync, unchanged otherwise."""
    if result in _BACKS_OFF:
        return consecutive_failures + 1
    if result in _SYNCED:
        return 0
    return consecutive_failures


def next_due(
    result: RunResult,
    now: datetime,
    *,
    consecutive_failures: int,
    interval_minutes: int | None,
    retry_after: float | None = None,
    backoff_base_seconds: int,
    backoff_cap_seconds: int,
    spread_seconds: float = 0,
) -> datetime | None:
    """When the object is due again. After a failure: base·2^(n−1) seconds capped, n the failure streak including
    this run, and never before the end's own `retry_after`. None when a person must act (or nothing syncs): not
    retried until something changes. Otherwise the configuration's interval (ten minutes if none) plus
    `spread_seconds` (the caller's random share of the dispatch jitter, so that users who synced together drift
    apart instead of reaching the ends in one burst every interval)."""
    if result in _BACKS_OFF:
        delay = min(backoff_base_seconds * 2 ** (consecutive_failures - 1), backoff_cap_seconds)
        return now + timedelta(seconds=max(delay, retry_after or 0))
    if result in _WAITS_FOR_A_PERSON:
        return None
    return now + timedelta(minutes=interval_minutes or DEFAULT_INTERVAL_MINUTES, seconds=spread_seconds)
