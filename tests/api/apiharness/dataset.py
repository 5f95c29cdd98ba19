"""The recorded world the API tests look at: three cameras in three states, real footage."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from apiharness.footage import ClipMaker, add_motion, record_segment, write_incoming
from spectare.model import Phase
from spectare.store import CameraInfo, Event, Footage, open_store

#: A camera password that must never leave the server: not in a response, page or log line.
SECRET = "hunter2-Zq9xW"
#: Stale limit the test servers run with: long, so "fresh" stays fresh for a whole run.
STALE_SECONDS = 86400.0
SEGMENT_SECONDS = 6


@dataclass
class Dataset:
    """Where the footage and the store are, and what is in them."""

    root: Path
    db: Path
    now: float
    footage: dict[str, list[Footage]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    ghost: Footage | None = None  # indexed, but its file is gone
    incoming: Path | None = None  # the segment driveway's worker is writing
    cameras: tuple[str, ...] = ("driveway", "garden", "porch")

    @property
    def store_url(self) -> str:
        """The store's URL."""
        return f"sqlite:///{self.db}"

    def copy_store(self, dest: Path) -> str:
        """A copy of the store (same footage), for tests that write; its URL."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.db, dest)
        return f"sqlite:///{dest}"


def build(base: Path, clips: ClipMaker, now: float) -> Dataset:
    """Record the test world under ``base``."""
    root = base / "footage"
    data = Dataset(root=root, db=base / "spectare.db", now=now)
    store = open_store(data.store_url)
    try:
        # driveway: recording, held by a live worker; two runs of segments with a gap;
        # its stored URL carries a password (as if a careless writer had put it there).
        store.upsert_camera(
            CameraInfo(
                id="driveway",
                display_name="Driveway",
                url=f"rtsp://admin:{SECRET}@192.0.2.10:554/Streaming/Channels/1",
                segment_seconds=SEGMENT_SECONDS,
            )
        )
        clip = clips.clip("testsrc2", SEGMENT_SECONDS)
        segments: list[Footage] = []
        # Both runs within the last ten minutes, so the 10-minute view shows them and the gap.
        for run_start in (now - 480, now - 240):
            start = run_start
            for _ in range(3):
                segment = record_segment(store, root, "driveway", start, clip)
                segments.append(segment)
                start = segment.end  # back to back, as the segment muxer writes them
        data.footage["driveway"] = segments
        data.events.append(add_motion(store, segments[1], 1.0, 2.5, 0.31))
        data.events.append(add_motion(store, segments[4], 2.0, 1.5, 0.12))
        # Its worker is writing the next segment (another picture: a fractal).
        data.incoming = write_incoming(root, "driveway", clips.clip("mandelbrot", SEGMENT_SECONDS))
        assert store.grab("driveway", "worker-a", now, STALE_SECONDS)
        assert store.heartbeat("driveway", "worker-a", now, Phase.RECORDING.value)
        store.bump("driveway", "reconnects", 2)

        # garden: held by a worker that died three days ago (orphaned); one segment
        # indexed without a thumbnail (as before they were made on demand), and one whose
        # file retention removed behind the index.
        store.upsert_camera(
            CameraInfo(
                id="garden",
                display_name="Garden",
                url="rtsp://viewer:***@192.0.2.11/stream",
                segment_seconds=SEGMENT_SECONDS,
            )
        )
        garden_clip = clips.clip("mandelbrot", SEGMENT_SECONDS)
        first = record_segment(store, root, "garden", now - 7200, garden_clip)
        second = record_segment(store, root, "garden", first.end, garden_clip, thumbnail=False)
        ghost = record_segment(store, root, "garden", second.end + 60, garden_clip)
        (root / ghost.path).unlink()
        data.footage["garden"] = [first, second, ghost]
        data.ghost = ghost
        stale = now - 3 * 86400
        assert store.grab("garden", "worker-b", stale, STALE_SECONDS)
        assert store.heartbeat("garden", "worker-b", stale, Phase.RECORDING.value)

        # porch: disabled, never recorded, no snapshot.
        store.upsert_camera(CameraInfo(id="porch", display_name="Porch", enabled=False))
        store.set_phase("porch", Phase.DISABLED.value, "disabled in its Camera spec")
        data.footage["porch"] = []
    finally:
        store.close()
    return data
