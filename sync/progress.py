"""A run's progress and its view of the two ends: each batch of writes renews the object's lease first (or stops
the run when another run took the object over) and is counted on the run and the state row; a connector error is
tagged with the end it came from."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from sync import engine
from sync.connectors.base import ConnectorError
from sync.engine.apply import CreateRequest, LookupRequest, UpdateRequest, WriteResult
from sync.leases import renew
from sync.models import SyncRun
from users.models import UserObjectState


class LeaseLost(Exception):
    """The run's lease ran out and another run claimed its object: this run stops before writing anything more."""

    def __init__(self, run_id: int):
        super().__init__(f"sync run {run_id} lost its lease")
        self.run_id = run_id


ProgressCallback = Callable[[int, int], None]


class Progress:
    """Counts the writes a run has made; records them on the run and the state row, and renews the lease."""

    def __init__(self, run: SyncRun, state: UserObjectState, owner: str, callback: ProgressCallback | None):
        self.run, self.state, self.owner, self.callback = run, state, owner, callback
        self.done, self.total = 0, 0

    def planned(self, total: int) -> None:
        self.total = total
        self._save()

    def advance(self, count: int) -> None:
        self.done += count
        self._save()

    def hold(self) -> None:
        """Before a batch of writes: renew the object's lease, or stop if it is no longer ours. A run that stalled
        past its lease (a slow end, a paused worker) may have been overtaken by the next run; two runs writing the
        same object at once would create the same records twice."""
        if not renew(self.state, self.owner):
            raise LeaseLost(self.run.pk)

    def _save(self) -> None:
        self.total = max(self.total, self.done)  # stamping Outlook items after Salesforce creates adds writes
        SyncRun.objects.filter(pk=self.run.pk).update(progress_done=self.done, progress_total=self.total)
        renew(self.state, self.owner)
        UserObjectState.objects.filter(pk=self.state.pk).update(progress_done=self.done,
                                                                progress_total=self.total)
        if self.callback:
            self.callback(self.done, self.total)


@contextmanager
def blamed_on(end: str) -> Iterator[None]:
    """Tag a connector error raised inside with the end it came from ("salesforce" or "exchange"), unless an inner
    block already did: the run records it (`SyncRun.error_end`) and the dashboard's health per end counts it."""
    try:
        yield
    except ConnectorError as exc:
        if not getattr(exc, "end", ""):
            exc.end = end  # type: ignore[attr-defined]
        raise


class BlamedSide:
    """One side of a run whose connector errors are tagged with its end (see `blamed_on`)."""

    def __init__(self, inner, end: str):
        self._inner, self._end = inner, end

    def __getattr__(self, name: str):
        attribute = getattr(self._inner, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            with blamed_on(self._end):
                return attribute(*args, **kwargs)

        return call


class TrackedSide:
    """The engine's view of one side (`engine.SideConnector`), reporting each batch of writes to the progress.

    It forwards exactly what the engine asks of a side; anything else (auto-relate) is asked of the side itself."""

    def __init__(self, inner: engine.SideConnector, progress: Progress):
        self._inner, self._progress = inner, progress
        self.side = inner.side

    def changes(self, watermark: str | None) -> engine.ChangeSet:
        return self._inner.changes(watermark)

    def fetch(self, record_ids) -> dict[str, engine.SideRecord]:
        return self._inner.fetch(record_ids)

    def lookup(self, request: LookupRequest) -> list[engine.SideRecord]:
        return self._inner.lookup(request)

    def lookup_many(self, requests: Sequence[LookupRequest]) -> list[list[engine.SideRecord]]:
        return self._inner.lookup_many(requests)

    def create(self, requests: Sequence[CreateRequest]) -> list[WriteResult]:
        self._progress.hold()
        return self._counted(self._inner.create(requests))

    def update(self, requests: Sequence[UpdateRequest]) -> list[WriteResult]:
        self._progress.hold()
        return self._counted(self._inner.update(requests))

    def delete(self, record_ids: Sequence[str]) -> list[WriteResult]:
        self._progress.hold()
        return self._counted(self._inner.delete(record_ids))

    def _counted(self, results: list[WriteResult]) -> list[WriteResult]:
        self._progress.advance(len(results))
        return results
