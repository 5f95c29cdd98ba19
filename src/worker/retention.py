"""Which segments retention drops (pure), and dropping them, file and row together."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from spectare.camera import RetentionView
from spectare.layout import camera_files, resolve
from spectare.logs import get_logger
from spectare.store import Footage, Store

log = get_logger(__name__)
DAY = 86400.0


def plan_retention(
    oldest_first: Sequence[Footage], total_bytes: int, policy: RetentionView, now: float
) -> list[Footage]:
    """The segments to drop, oldest first: past ``days``, then until under ``maxBytes``.

    Only indexed segments are ever dropped, so an empty index drops nothing.
    """
    drop: list[Footage] = []
    remaining = total_bytes
    max_bytes = policy.max_bytes_int
    for item in oldest_first:
        too_old = policy.days is not None and item.end < now - policy.days * DAY
        too_big = max_bytes is not None and remaining > max_bytes
        if not (too_old or too_big):
            break
        drop.append(item)
        remaining -= item.bytes
    return drop


def apply_retention(
    store: Store, root: Path, camera: str, policy: RetentionView, now: float, batch: int = 200
) -> int:
    """Drop what ``plan_retention`` says, in batches; how many segments were dropped."""
    if policy.days is None and policy.max_bytes is None:
        return 0
    dropped = 0
    while True:
        record = store.get_camera(camera)
        if record is None or record.segments == 0:
            _refuse_if_files(root, camera)
            return dropped
        page = store.footage_range(camera, limit=batch)
        doomed = plan_retention(page.items, record.bytes, policy, now)
        if not doomed:
            return dropped
        for item in doomed:
            # File first: a crash between the two leaves a row without a file (shown as
            # missing), never a file that nothing will ever delete.
            for relpath in (item.path, item.thumbnail):
                if relpath:
                    resolve(root, relpath).unlink(missing_ok=True)
        dropped += store.delete_footage([item.id for item in doomed])
        log.info(
            "retention.dropped",
            camera=camera,
            segments=len(doomed),
            bytes=sum(item.bytes for item in doomed),
            oldest=doomed[0].start,
        )
        if len(doomed) < len(page.items) or page.cursor is None:
            return dropped


def _refuse_if_files(root: Path, camera: str) -> None:
    """Say so when files exist that the index does not know: they are never deleted here."""
    if any(camera_files(root, camera)):
        log.warning(
            "retention.refused",
            camera=camera,
            reason="the index has no footage while files exist; nothing is deleted until "
            "recovery has indexed them",
        )
