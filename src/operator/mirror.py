"""The store's cameras table mirrors the Camera specs (masked URL, never credentials)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spectare import supervision
from spectare.logs import get_logger
from spectare.operator.plan import CameraView, Key
from spectare.store import CameraInfo

if TYPE_CHECKING:
    from spectare.operator.reconciler import Reconciler

log = get_logger(__name__)


def camera_info(view: CameraView) -> CameraInfo | None:
    """The row's spec part for a Camera; None for an invalid spec."""
    return None if view.spec is None else supervision.camera_info(view.name, view.spec)


async def sync(rec: Reconciler, cameras: dict[Key, CameraView]) -> None:
    """Upsert changed Cameras; forget rows of Cameras that are gone (footage stays)."""
    mirrored = rec.mirrored
    wanted = {}
    for view in cameras.values():
        info = camera_info(view)
        if info is not None:
            wanted[info.id] = info
    try:
        for name, info in wanted.items():
            if mirrored.get(name) != info:
                await rec.in_store(rec.store.upsert_camera, info)
                mirrored[name] = info
        # Rows seen in the last scan (or mirrored before) whose Camera is gone.
        for name in {*mirrored, *rec.records} - set(wanted):
            await rec.in_store(rec.store.remove_camera, name)
            mirrored.pop(name, None)
            rec.records.pop(name, None)
            log.info("operator.camera_forgotten", camera=name)
    except Exception as exc:
        log.warning("operator.mirror_failed", error=str(exc))
