"""The worker: records one camera into segments and indexes them."""

from __future__ import annotations

from spectare import exits
from spectare.logs import get_logger
from spectare.settings import Settings
from spectare.store import StoreError, open_store
from spectare.worker.run import Worker

log = get_logger(__name__)

__all__ = ["Worker", "run_worker"]


def run_worker(settings: Settings, camera: str) -> int:
    """Record ``camera`` until stopped; the process exit code (see spectare.exits)."""
    if settings.camera_spec is None:
        log.error(
            "worker.no_spec",
            camera=camera,
            hint="set SPECTARE_CAMERA_SPEC to the Camera's spec as JSON (the pool and the "
            "operator do this)",
        )
        return exits.BAD_CONFIG
    try:
        store = open_store(settings.store, deadline=settings.store_deadline_seconds)
    except StoreError as exc:
        log.error("worker.store_unreachable", camera=camera, error=str(exc))
        return 1
    try:
        return Worker(settings, camera, settings.camera_spec, store).run()
    finally:
        store.close()
