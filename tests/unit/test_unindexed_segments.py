"""No index row is lost while the store is away, and recovery finds every unindexed file.

A worker's Indexer keeps a durable list of segments it placed in the tree but could
not index; the list is worked off when the store answers again, and at the next
start. Recovery scans the whole tree, however old the file.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from harness.procs import wait_until
from spectare.camera import CameraSpecView
from spectare.ids import uuid7_at
from spectare.layout import segment_relpath
from spectare.model import CameraSpec
from spectare.settings import Settings
from spectare.store import Footage, StoreError
from spectare.store.sqlite import SQLiteStore
from spectare.worker.pending import PendingList
from spectare.worker.recovery import recover
from spectare.worker.run import Finished, Worker
from spectare.worker.segments import Indexer, Tools

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")

NOW = 1_800_000_000.0


class FlakyStore(SQLiteStore):
    """SQLite that refuses to index while ``away`` (as a store that went away does)."""

    away = False

    def add_footage(self, footage: Footage, now: float) -> bool:
        if self.away:
            raise StoreError("lost the connection to RethinkDB (test)")
        return super().add_footage(footage, now)


def clip(path: Path, seconds: float = 1.0) -> Path:
    """A small playable fragmented MP4."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc=size=64x36:rate=5:d={seconds}",
         "-c:v", "libx264", "-g", "5", "-movflags", "frag_keyframe+empty_moov", "-y", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path


@pytest.fixture
def store(tmp_path: Path) -> FlakyStore:
    db = FlakyStore(tmp_path / "index.db")
    db.setup()
    return db


def indexer(store: FlakyStore, root: Path) -> Indexer:
    spec = CameraSpec(url="rtsp://cam/1", motion={"enabled": False})  # type: ignore[arg-type]
    return Indexer(store, root, "cam", spec, Tools())


def test_a_segment_the_store_refused_is_indexed_when_it_returns(
    store: FlakyStore, tmp_path: Path
) -> None:
    root = tmp_path / "footage"
    work = indexer(store, root)
    first = clip(root / "cam" / ".incoming" / "a.mp4")
    store.away = True
    with pytest.raises(StoreError):
        work.finish(first, NOW, NOW + 1)
    assert not first.exists()  # it is in the tree now...
    assert [s.start for s in PendingList(root, "cam").entries()] == [NOW]  # ...and listed
    # The next segment, while the store is still away, is left where it is.
    second = clip(root / "cam" / ".incoming" / "b.mp4")
    with pytest.raises(StoreError):
        work.finish(second, NOW + 1, NOW + 2)
    assert second.exists()
    store.away = False
    assert work.finish(second, NOW + 1, NOW + 2) is not None
    assert not PendingList(root, "cam").path.exists()
    record = store.get_camera("cam")
    assert record is not None and record.segments == 2


def test_a_placed_segment_is_indexed_once_the_store_returns_without_a_next_segment(
    store: FlakyStore, tmp_path: Path
) -> None:
    """A camera that went quiet closes no next segment: the worker keeps retrying."""
    root = tmp_path / "footage"
    spec = CameraSpecView.from_setting('{"url": "rtsp://cam/1", "motion": {"enabled": false}}')
    worker = Worker(Settings(footage_dir=root), "cam", spec, store)
    store.away = True
    segment = clip(root / "cam" / ".incoming" / "a.mp4")
    finishing = threading.Thread(
        target=worker._finish_with_retries, args=(Finished(segment, NOW, NOW + 1),)
    )
    finishing.start()
    pending = PendingList(root, "cam")
    wait_until(lambda: pending.entries(), 30, "the segment placed and listed as pending")
    store.away = False
    finishing.join(timeout=30)
    assert not finishing.is_alive()
    assert not pending.path.exists()
    record = store.get_camera("cam")
    assert record is not None and record.segments == 1


def test_a_worker_that_died_with_a_pending_list_indexes_it_on_restart(
    store: FlakyStore, tmp_path: Path
) -> None:
    root = tmp_path / "footage"
    store.away = True
    with pytest.raises(StoreError):
        indexer(store, root).finish(clip(root / "cam" / ".incoming" / "a.mp4"), NOW, NOW + 1)
    store.away = False
    assert recover(root, indexer(store, root)) == 1
    record = store.get_camera("cam")
    assert record is not None and record.segments == 1


def test_recovery_finds_an_unindexed_file_however_old(store: FlakyStore, tmp_path: Path) -> None:
    root = tmp_path / "footage"
    work = indexer(store, root)
    # Indexed footage from today, and a file from two years ago the index never got.
    assert work.finish(clip(root / "cam" / ".incoming" / "new.mp4"), NOW, NOW + 1) is not None
    old_start = NOW - 2 * 365 * 86400
    old_id = str(uuid7_at(old_start))
    clip(root / segment_relpath("cam", old_start, old_id, "mp4"))
    assert recover(root, indexer(store, root)) == 1
    assert store.get_footage(old_id) is not None
