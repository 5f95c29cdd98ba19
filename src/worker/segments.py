"""Turning a closed segment file into footage: rename to its UUID, probe if need be, index."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from spectare.camera import CameraSpecView
from spectare.ids import uuid7_at
from spectare.layout import quarantine_dir, segment_relpath, thumbnail_relpath
from spectare.logs import get_logger
from spectare.store import Event, Footage, Store, StoreError
from spectare.worker.pending import PendingList, PendingSegment
from spectare.worker.probe import MediaInfo, probe, repair

log = get_logger(__name__)


@dataclass(frozen=True)
class Tools:
    """External programs a worker runs."""

    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"


def quarantine(root: Path, camera: str, path: Path, reason: str) -> Path:
    """Move an unplayable file aside; it is never deleted."""
    target_dir = quarantine_dir(root, camera)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    if target.exists():
        target = target_dir / f"{path.stem}-{int(time.time() * 1000)}{path.suffix}"
    shutil.move(path, target)
    log.warning("segment.quarantined", camera=camera, file=path.name, reason=reason)
    return target


def place(root: Path, camera: str, source: Path, start: float) -> tuple[str, str]:
    """Rename a finished file to its UUIDv7 name in the dated tree: (id, relative path)."""
    segment_id = str(uuid7_at(start))
    relpath = segment_relpath(camera, start, segment_id, source.suffix.lstrip("."))
    target = root / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    # link + unlink instead of rename: it fails rather than overwrite an existing file.
    os.link(source, target)
    source.unlink()
    return segment_id, relpath


class Indexer:
    """Indexes finished segments of one camera; a segment the store could not take
    stays on the camera's durable pending list until it does."""

    def __init__(self, store: Store, root: Path, camera: str, spec: CameraSpecView, tools: Tools):
        self.store = store
        self.root = root
        self.camera = camera
        self.spec = spec
        self.tools = tools
        self.pending = PendingList(root, camera)

    def finish(
        self,
        source: Path,
        start: float | None,
        closed_at: float,
        known: MediaInfo | None = None,
        motion: float | None = None,
    ) -> Footage | None:
        """Finish ``source``, which started at wall time ``start`` (if known) and was closed
        at ``closed_at``; None when it was quarantined. ``known``: what ffmpeg already said
        of a segment it closed itself (then it is not probed); ``motion``: its score.

        Segments an earlier call could not index go first: a StoreError then means the
        store is still away, and ``source`` is untouched, so the caller retries it."""
        self.index_pending()
        info = (
            known
            or probe(source, self.tools.ffprobe)
            or repair(source, self.tools.ffmpeg, self.tools.ffprobe)
        )
        if info is None:
            quarantine(self.root, self.camera, source, "no playable video")
            return None
        if start is None:
            start = closed_at - info.duration
        segment_id, relpath = place(self.root, self.camera, source, start)
        # On the list before the store is asked: a StoreError (or a crash) from here on
        # leaves the segment to index_pending, never unindexed in the tree.
        self.pending.add(PendingSegment(segment_id, relpath, start))
        footage = self.index_file(segment_id, relpath, info, start, motion)
        self.pending.remove(segment_id)
        return footage

    def index_pending(self) -> int:
        """Index every segment on the pending list; how many. StoreError when the store
        is still away (the rest stay on the list)."""
        done = 0
        for segment in self.pending.entries():
            path = self.root / segment.path
            info = probe(path, self.tools.ffprobe) if path.exists() else None
            if info is None:
                log.warning("segment.pending_gone", camera=self.camera, id=segment.id)
            else:
                self.index_file(segment.id, segment.path, info, segment.start)
                done += 1
            self.pending.remove(segment.id)
        return done

    def index_file(
        self,
        segment_id: str,
        relpath: str,
        info: MediaInfo,
        start: float,
        motion: float | None = None,
    ) -> Footage:
        """Index row of a segment already in the tree. Its thumbnail is made by the API
        when someone first asks for it (beside the segment), never here: most are never
        looked at, and each would cost a decode of the recording."""
        path = self.root / relpath
        footage = Footage(
            id=segment_id,
            camera=self.camera,
            path=relpath,
            start=start,
            end=start + info.duration,
            duration=info.duration,
            bytes=path.stat().st_size,
            container=path.suffix.lstrip("."),
            codec=info.codec,
            width=info.width,
            height=info.height,
            motion=motion,
            thumbnail=thumbnail_relpath(relpath),
        )
        self._index(footage)
        return footage

    def _index(self, footage: Footage) -> None:
        added = self.store.add_footage(footage, now=time.time())
        threshold = self.spec.motion.threshold
        if footage.motion is not None and footage.motion >= threshold and added:
            self.store.add_event(
                Event(
                    id=footage.id,
                    camera=self.camera,
                    footage_id=footage.id,
                    start=footage.start,
                    end=footage.end,
                    score=footage.motion,
                )
            )
        log.info(
            "segment.indexed",
            camera=self.camera,
            id=footage.id,
            seconds=round(footage.duration, 3),
            bytes=footage.bytes,
            motion=None if footage.motion is None else round(footage.motion, 4),
            new=added,
        )


__all__ = ["Indexer", "StoreError", "Tools", "place", "quarantine"]
