"""Segments placed in the footage tree whose index row is not written yet.

A durable list, one JSON line per segment, in ``<root>/<camera>/.unindexed.jsonl``
beside the footage (a hidden name, so the tree scan never takes it for footage).
A segment goes on the list before the store is asked to index it and comes off once
the store has it, so a store that is away (or a worker that dies) loses no index
row: the list is worked off when the store answers again, and at the next start.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from spectare.logs import get_logger

log = get_logger(__name__)

FILE_NAME = ".unindexed.jsonl"


@dataclass(frozen=True)
class PendingSegment:
    """A segment in the tree: its id, path relative to the footage root, and start."""

    id: str
    path: str
    start: float


class PendingList:
    """The durable list of one camera's segments awaiting their index row."""

    def __init__(self, root: Path, camera: str) -> None:
        self.path = root / camera / FILE_NAME
        self._lock = threading.Lock()  # the recording and recovery paths share it

    def add(self, segment: PendingSegment) -> None:
        """Put ``segment`` on the list, durably, before its index row is written."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(asdict(segment)) + "\n")
                handle.flush()
                os.fsync(handle.fileno())

    def remove(self, segment_id: str) -> None:
        """Take a segment off the list once the store has its row."""
        with self._lock:
            left = [s for s in self._read() if s.id != segment_id]
            if not left:
                self.path.unlink(missing_ok=True)
                return
            # Written aside and renamed over: a crash leaves the old list or the new one.
            scratch = self.path.with_name(FILE_NAME + ".tmp")
            scratch.write_text("".join(json.dumps(asdict(s)) + "\n" for s in left))
            os.replace(scratch, self.path)

    def entries(self) -> list[PendingSegment]:
        """The segments on the list, oldest first, each once."""
        with self._lock:
            return self._read()

    def _read(self) -> list[PendingSegment]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        seen: dict[str, PendingSegment] = {}
        for line in lines:
            try:
                segment = PendingSegment(**json.loads(line))
            except (ValueError, TypeError):
                # A line torn by a crash mid-append: the tree scan finds its segment.
                log.warning("pending.bad_line", file=str(self.path))
                continue
            seen.setdefault(segment.id, segment)
        return list(seen.values())
