"""How a supervisor treats its workers: one set of rules for the local pool and the operator.

Pure: the worker's environment from the Settings model's own field names (a misspelt
name fails at import, never silently), the store's mirror of a Camera, and the rule
that decides whether a worker that ended counts as a failure.
"""

from __future__ import annotations

import dataclasses

from spectare.model import CameraSpec
from spectare.redact import mask_url
from spectare.settings import Settings
from spectare.store import CameraInfo

#: A worker that ran this long counts as healthy even if it never closed a segment
#: (long segments); one that recorded counts as healthy however short its life.
HEALTHY_SECONDS = 60.0

#: The settings a worker reads that its supervisor passes on as they are.
WORKER_SETTINGS: tuple[str, ...] = (
    "store",
    "store_deadline_seconds",
    "footage_dir",
    "heartbeat_seconds",
    "stale_seconds",
    "container",
    "ffmpeg",
    "ffprobe",
    "rw_timeout_seconds",
    "stall_seconds",
    "log_format",
    "log_level",
)
#: Settings a supervisor decides per worker (``worker_environment``'s keyword arguments).
PER_WORKER = ("worker_id", "camera_spec", "footage_must_be_mount")

_FIELDS = frozenset(field.name for field in dataclasses.fields(Settings))
_unknown = [n for n in (*WORKER_SETTINGS, *PER_WORKER) if n not in _FIELDS]
if _unknown:  # pragma: no cover - a programming error, caught by any import
    raise AssertionError(f"not Settings fields: {_unknown}")


def env_name(field: str) -> str:
    """The environment variable of a Settings field."""
    if field not in _FIELDS:
        raise KeyError(f"{field!r} is not a setting")
    return f"SPECTARE_{field.upper()}"


def _text(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, CameraSpec):
        return value.model_dump_json(by_alias=True)
    return str(value)


def worker_environment(settings: Settings, **per_worker: object) -> dict[str, str]:
    """The ``SPECTARE_*`` variables of a worker: the shared settings, then ``per_worker``.

    ``per_worker`` names Settings fields too (``worker_id``, ``camera_spec`` as JSON, ...);
    credentials are not passed here: each supervisor hands them over its own way.
    """
    values: dict[str, object] = {name: getattr(settings, name) for name in WORKER_SETTINGS}
    values.update(per_worker)
    return {env_name(name): _text(value) for name, value in values.items() if value is not None}


def camera_info(name: str, spec: CameraSpec) -> CameraInfo:
    """The store's mirror of a Camera: masked URL, never credentials."""
    return CameraInfo(
        id=name,
        display_name=spec.display_name or name,
        enabled=spec.enabled,
        url=mask_url(spec.url),
        segment_seconds=spec.segment_seconds,
    )


def recorded_since(newest_end: float | None, started_at: float) -> bool:
    """Whether a worker started at ``started_at`` (epoch) got a segment into the index."""
    return newest_end is not None and newest_end > started_at


def failures_after(failures: int, ran_seconds: float, recorded: bool) -> int:
    """Failures in a row once a worker has ended.

    A worker that recorded, or ran ``HEALTHY_SECONDS``, was fine until it ended: its
    replacement starts at once (0). Backoff is for workers that never get going.
    """
    return 0 if recorded or ran_seconds >= HEALTHY_SECONDS else failures + 1
