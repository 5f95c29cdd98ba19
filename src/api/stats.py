"""The stats document: a pure summary of the cameras' rows and their counters.

The store keeps per-camera counters up to date on every write (segments, bytes,
seconds, oldest and newest footage), so a summary of the whole system is a
function of the camera rows alone: no footage scan, milliseconds at any size.
Everything here is pure (rows, a clock reading and the stale limit in, a document
out) so the API, the operator's status writer and the CLI can share it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from spectare.model import Phase
from spectare.store.records import CameraRecord


@dataclass(frozen=True)
class FootageSummary:
    """What is on record: segments, bytes and seconds, from the oldest to the newest."""

    count: int
    bytes: int
    seconds: float
    oldest: float | None
    newest: float | None

    @classmethod
    def of(cls, camera: CameraRecord) -> FootageSummary:
        """A camera's footage, from the counters its row keeps."""
        return cls(
            count=camera.segments,
            bytes=camera.bytes,
            seconds=camera.seconds,
            oldest=camera.oldest_start if camera.segments else None,
            newest=camera.newest_end if camera.segments else None,
        )


@dataclass(frozen=True)
class CameraStats:
    """One camera's state and footage, at a glance.

    ``grabbed``: a worker holds the camera. ``orphaned``: it is held but the holder's
    heartbeat is stale (the worker is probably dead; the orphan monitor will free it).
    ``recording``: phase Recording, held, and not orphaned.
    """

    id: str
    display_name: str
    enabled: bool
    phase: str
    message: str | None
    recording: bool
    grabbed: bool
    orphaned: bool
    disabled: bool
    queued: bool
    worker: str | None
    heartbeat: float | None
    heartbeat_age: float | None
    last_segment_at: float | None
    seconds_since_last_segment: float | None
    restarts: int
    reconnects: int
    footage: FootageSummary


@dataclass(frozen=True)
class CameraTotals:
    """How many cameras are in each state; ``orphaned`` is a subset of ``grabbed``."""

    total: int
    recording: int
    grabbed: int
    orphaned: int
    disabled: int
    queued: int
    phases: dict[str, int]


@dataclass(frozen=True)
class Stats:
    """The whole system: camera states, workers, footage; then each camera the same."""

    generated_at: float
    stale_seconds: float
    cameras: CameraTotals
    workers: int
    footage: FootageSummary
    per_camera: list[CameraStats]


def is_orphaned(camera: CameraRecord, now: float, stale_seconds: float) -> bool:
    """Held by a worker whose heartbeat is stale: the rule ``Store.grab`` steals by."""
    if camera.worker is None:
        return False
    return camera.heartbeat is None or camera.heartbeat < now - stale_seconds


def _age(now: float, then: float | None) -> float | None:
    # Clocks of different machines drift a little; an age is never negative.
    return None if then is None else max(0.0, now - then)


def camera_stats(camera: CameraRecord, now: float, stale_seconds: float) -> CameraStats:
    """One camera's summary from its row."""
    grabbed = camera.worker is not None
    orphaned = is_orphaned(camera, now, stale_seconds)
    return CameraStats(
        id=camera.id,
        display_name=camera.display_name or camera.id,
        enabled=camera.enabled,
        phase=camera.phase,
        message=camera.message,
        recording=camera.phase == Phase.RECORDING and grabbed and not orphaned,
        grabbed=grabbed,
        orphaned=orphaned,
        disabled=not camera.enabled or camera.phase == Phase.DISABLED,
        queued=camera.phase == Phase.QUEUED,
        worker=camera.worker,
        heartbeat=camera.heartbeat,
        heartbeat_age=_age(now, camera.heartbeat),
        last_segment_at=camera.last_segment_at,
        seconds_since_last_segment=_age(now, camera.last_segment_at),
        restarts=camera.restarts,
        reconnects=camera.reconnects,
        footage=FootageSummary.of(camera),
    )


def _min(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _max(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def summarise(cameras: Sequence[CameraRecord], now: float, stale_seconds: float) -> Stats:
    """The stats document of ``cameras`` as seen at ``now``."""
    per_camera = [camera_stats(camera, now, stale_seconds) for camera in cameras]
    phases = Counter({phase.value: 0 for phase in Phase})
    phases.update(c.phase for c in per_camera)
    return Stats(
        generated_at=now,
        stale_seconds=stale_seconds,
        cameras=CameraTotals(
            total=len(per_camera),
            recording=sum(c.recording for c in per_camera),
            grabbed=sum(c.grabbed for c in per_camera),
            orphaned=sum(c.orphaned for c in per_camera),
            disabled=sum(c.disabled for c in per_camera),
            queued=sum(c.queued for c in per_camera),
            phases=dict(sorted(phases.items())),
        ),
        workers=len({c.worker for c in per_camera if c.worker is not None}),
        footage=FootageSummary(
            count=sum(c.footage.count for c in per_camera),
            bytes=sum(c.footage.bytes for c in per_camera),
            seconds=sum(c.footage.seconds for c in per_camera),
            oldest=_min(c.footage.oldest for c in per_camera),
            newest=_max(c.footage.newest for c in per_camera),
        ),
        per_camera=per_camera,
    )
