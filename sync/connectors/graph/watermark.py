"""The Graph side's watermark: a delta link plus where it was read (contact folder, To Do list, event window)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sync.engine.records import SyncObject


@dataclass
class Watermark:
    """What `changes` returns as the watermark: the delta link plus what an incremental read needs.

    Stored as JSON: {"protocol": "graph", "v": 1, "object": ..., "delta": <@odata.deltaLink>, "folder": <contact
    folder id>, "list": <To Do list id>, "window": [start, end]}; events synced with series as series add "series"
    {master id: [its occurrence ids in the window]} (series synced as occurrences), "whole" [master ids that are
    records themselves], "masters" {master id: its changeKey when last judged} and "since" (when this read began:
    masters modified since with another changeKey are judged again). Anything else
    (unreadable, another object's, another host's, an EWS sync state) means "read in full".
    """

    object_type: SyncObject
    delta: str
    folder: str | None = None
    task_list: str | None = None
    window: list[str] | None = None
    series: dict[str, list[str]] = field(default_factory=dict)
    whole: list[str] = field(default_factory=list)
    since: str | None = None
    masters: dict[str, str] = field(default_factory=dict)

    def dump(self) -> str:
        data: dict[str, Any] = {"protocol": "graph", "v": 1, "object": self.object_type.value, "delta": self.delta}
        if self.folder:
            data["folder"] = self.folder
        if self.task_list:
            data["list"] = self.task_list
        if self.window is not None:
            data["window"] = self.window
        if self.series:
            data["series"] = self.series
        if self.whole:
            data["whole"] = self.whole
        if self.since:
            data["since"] = self.since
        if self.masters:
            data["masters"] = self.masters
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str | None, object_type: SyncObject, root: str) -> Watermark | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            if (not isinstance(data, dict) or data.get("protocol") != "graph" or data.get("v") != 1
                    or data.get("object") != object_type.value or not isinstance(data.get("delta"), str)):
                return None
            if not data["delta"].startswith(root + "/"):
                return None  # another Graph endpoint (configuration changed): its token means nothing here
            series = {str(k): [str(i) for i in v] for k, v in (data.get("series") or {}).items()}
            return cls(object_type, data["delta"], data.get("folder"), data.get("list"), data.get("window"), series,
                       [str(i) for i in data.get("whole") or ()], data.get("since"),
                       {str(k): str(v) for k, v in (data.get("masters") or {}).items()})
        except (ValueError, TypeError, AttributeError):
            return None
