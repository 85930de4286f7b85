"""The EWS side's watermark: a SyncFolderItems state plus what an incremental read of series needs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any


class Watermark:
    """What `changes` returns as the watermark: the SyncFolderItems state plus what an incremental read needs.

    Stored as JSON: {"v": 1, "state": <sync state>, "folder": <contacts folder id>, "series": {master id: [occurrence
    ids in the window]}, "whole": [ids of masters presented as one record], "window": [first day, day after last]}.
    Anything unreadable means "read in full".
    """

    def __init__(self, state: str, folder_id: str | None = None, series: Mapping[str, list[str]] | None = None,
                 window: list[str] | None = None, whole: Iterable[str] = ()):
        self.state = state
        self.folder_id = folder_id
        self.series = dict(series or {})
        self.window = window
        self.whole = list(whole)

    def dump(self) -> str:
        data: dict[str, Any] = {"v": 1, "state": self.state}
        if self.folder_id:
            data["folder"] = self.folder_id
        if self.window is not None:
            data["series"] = self.series
            data["window"] = self.window
            if self.whole:
                data["whole"] = self.whole
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str | None) -> Watermark | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            if data.get("v") != 1 or not isinstance(data.get("state"), str):
                return None
            return cls(data["state"], data.get("folder"), data.get("series") or {}, data.get("window"),
                       data.get("whole") or [])
        except (ValueError, AttributeError, TypeError):
            return None
