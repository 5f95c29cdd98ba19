"""The footage rows of the API latency benchmark, and the checks that they are real.

The rows are the ones a worker indexes (``generate``: segments back to back, a
reconnect gap now and then, UUIDv7 ids, the layout's paths); ``check_row`` and
``verify_counters`` hold bulk-loaded rows and counters against what the store
itself writes, before anything is timed.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from spectare.ids import uuid7_at, uuid7_time
from spectare.layout import segment_relpath, thumbnail_relpath
from spectare.store import CameraInfo, Footage, Store

SEGMENT_SECONDS = 300

Truth = dict[str, tuple[int, int, float, float, float]]


@dataclass
class Counters:
    """A camera's counters, as ``add_footage`` keeps them."""

    segments: int = 0
    bytes: int = 0
    seconds: float = 0.0
    oldest_start: float | None = None
    newest_end: float | None = None
    last_segment_at: float | None = None

    def add(self, footage: Footage) -> None:
        self.segments += 1
        self.bytes += footage.bytes
        self.seconds += footage.duration
        self.oldest_start = (
            footage.start if self.oldest_start is None else min(self.oldest_start, footage.start)
        )
        self.newest_end = (
            footage.end if self.newest_end is None else max(self.newest_end, footage.end)
        )
        # The worker indexes a segment when it closes it: "now" is the segment's end.
        self.last_segment_at = footage.end


def camera_ids(count: int) -> list[str]:
    """The benchmark's camera ids."""
    return [f"cam-{i:02d}" for i in range(count)]


def generate(cameras: list[str], per_camera: int, end: float, seed: int = 7) -> Iterator[Footage]:
    """Segments as a worker records them: back to back, a reconnect gap now and then."""
    rng = random.Random(seed)
    first = True
    for camera in cameras:
        start = first_start(per_camera, end)
        for _ in range(per_camera):
            if rng.random() < 0.01:
                start += rng.uniform(5, 1800)  # the camera dropped for a while
            duration = SEGMENT_SECONDS - rng.uniform(0, 0.2)
            segment_id = str(uuid7_at(start))
            path = segment_relpath(camera, start, segment_id, "mp4")
            # thumbnail_relpath goes through pathlib, slow at a million; same result:
            thumbnail = path[: -len(".mp4")] + ".jpg"
            if first:
                assert thumbnail == thumbnail_relpath(path)
                first = False
            yield Footage(
                id=segment_id,
                camera=camera,
                path=path,
                start=start,
                end=start + duration,
                duration=duration,
                bytes=rng.randint(20_000_000, 60_000_000),
                container="mp4",
                codec="h264",
                width=1920,
                height=1080,
                motion=round(rng.random(), 4),
                thumbnail=thumbnail,
            )
            start += duration


def register_cameras(store: Store, cameras: list[str], now: float) -> None:
    """Register the cameras; most have a worker recording them, a few are idle."""
    for i, camera in enumerate(cameras):
        store.upsert_camera(
            CameraInfo(
                id=camera,
                display_name=f"Camera {i}",
                url=f"rtsp://viewer:***@192.0.2.{i + 1}:554/stream",
                segment_seconds=SEGMENT_SECONDS,
            )
        )
        if i % 10 != 9:  # most recording, a few idle
            store.grab(camera, f"worker-{i % 7}", now, 30)
            store.heartbeat(camera, f"worker-{i % 7}", now, "Recording")


def first_start(per_camera: int, now: float) -> float:
    """Where a camera's footage starts, so that segments and gaps end before ``now``."""
    return now - per_camera * (SEGMENT_SECONDS + 0.01 * 905) - 3600


def segment(camera: str, start: float) -> Footage:
    segment_id = str(uuid7_at(start))
    path = segment_relpath(camera, start, segment_id, "mp4")
    return Footage(
        id=segment_id, camera=camera, path=path, start=start, end=start + 299.9,
        duration=299.9, bytes=31_415_926, container="mp4", codec="h264", width=1920,
        height=1080, motion=0.5, thumbnail=thumbnail_relpath(path),
    )  # fmt: skip


def check_row(row: Footage) -> None:
    """A footage row as the worker would have indexed it."""
    parsed = uuid.UUID(row.id)
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122, row.id
    assert str(parsed) == row.id
    assert abs(uuid7_time(row.id) - row.start) < 0.001, row
    assert row.path == segment_relpath(row.camera, row.start, row.id, "mp4"), row
    assert row.thumbnail == thumbnail_relpath(row.path), row
    assert abs(row.end - (row.start + row.duration)) < 1e-6, row
    assert row.container == "mp4" and row.bytes > 0


def verify_counters(
    store: Store,
    truth: Truth,
    cameras: list[str],
    samples: list[Footage],
) -> None:
    """Every camera's counters against the aggregate of its rows; sample rows read back."""
    try:
        for camera in cameras:
            record = store.get_camera(camera)
            assert record is not None
            count, total, seconds, oldest, newest = truth[camera]
            assert record.segments == count, (camera, record.segments, count)
            assert record.bytes == total
            assert math.isclose(record.seconds, seconds, rel_tol=1e-9)
            assert record.oldest_start == oldest and record.newest_end == newest
            assert record.last_segment_at == newest  # the worker indexes at the segment's end
        assert samples
        for expected in samples:
            got = store.get_footage(expected.id)
            assert got == expected, (got, expected)
    finally:
        store.close()
