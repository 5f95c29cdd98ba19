"""Crash recovery: index what an earlier run left behind; quarantine, never delete."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from spectare.ids import uuid7_time
from spectare.layout import camera_files, incoming_dir
from spectare.logs import get_logger
from spectare.worker.probe import probe
from spectare.worker.segments import Indexer, quarantine

log = get_logger(__name__)
#: Segment ids per store query when looking for files the index lacks.
BATCH = 500


#: A leftover still changing may belong to an ffmpeg that outlived its worker for a
#: moment (it closes its file when the worker dies); it is left alone until quiet.
QUIET_SECONDS = 2.0


def leftovers(root: Path, camera: str, keep_run: str | None = None) -> list[Path]:
    """Files an earlier run left in the camera's incoming folder, oldest first."""
    folder = incoming_dir(root, camera)
    if not folder.is_dir():
        return []
    files = [
        path
        for path in folder.iterdir()
        if path.is_file() and not (keep_run and path.name.startswith(keep_run))
    ]
    if files:
        newest = max(path.stat().st_mtime for path in files)
        time.sleep(max(0.0, newest + QUIET_SECONDS - time.time()))
    return sorted(files, key=lambda path: (path.stat().st_mtime, path.name))


def _segment_id(path: Path) -> str | None:
    try:
        parsed = uuid.UUID(path.stem)
    except ValueError:
        return None
    return str(parsed) if parsed.version == 7 else None


def unindexed(root: Path, indexer: Indexer) -> Iterator[tuple[Path, str]]:
    """Segment files anywhere in the camera's tree, however old, with no index row.

    The store is asked about many ids at once, so a tree of months costs a few queries.
    """
    files = [(path, _segment_id(path)) for path in camera_files(root, indexer.camera)]
    named = [(path, ident) for path, ident in files if ident is not None]
    for i in range(0, len(named), BATCH):
        batch = named[i : i + BATCH]
        present = indexer.store.footage_present([ident for _, ident in batch])
        for path, ident in batch:
            if ident not in present:
                yield path, ident


def recover(root: Path, indexer: Indexer, keep_run: str | None = None) -> int:
    """Finish the leftovers of earlier runs and index files the index lacks; how many."""
    if indexer.store.reconcile(indexer.camera):
        log.info("recovery.recounted", camera=indexer.camera)
    recovered = indexer.index_pending()
    for path in leftovers(root, indexer.camera, keep_run):
        if indexer.finish(path, None, closed_at=path.stat().st_mtime) is not None:
            recovered += 1
            log.info("recovery.leftover_indexed", camera=indexer.camera, file=path.name)
    for path, segment_id in unindexed(root, indexer):
        info = probe(path, indexer.tools.ffprobe)
        if info is None:
            quarantine(root, indexer.camera, path, "no playable video")
            continue
        indexer.index_file(segment_id, str(path.relative_to(root)), info, uuid7_time(segment_id))
        recovered += 1
        log.info("recovery.reindexed", camera=indexer.camera, id=segment_id)
    return recovered
