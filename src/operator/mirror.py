"""The store's cameras table mirrors the Camera specs (pure: masked URL, never credentials)."""

from __future__ import annotations

from collections.abc import Mapping

from spectare.operator.draft import Draft
from spectare.operator.effects import RemoveCamera, UpsertCamera
from spectare.operator.plan import CameraView, Key
from spectare.store import CameraInfo, CameraRecord


def changes(
    cameras: Mapping[Key, CameraView],
    mirrored: Mapping[str, CameraInfo],
    records: Mapping[str, CameraRecord],
) -> tuple[list[CameraInfo], list[str]]:
    """Rows to upsert (new or changed specs) and rows to remove (their Camera is gone).

    A row counts as present when mirrored before or seen in the last scan; footage of
    a removed row stays.
    """
    wanted = {}
    for view in cameras.values():
        info = view.store_info
        if info is not None:
            wanted[info.id] = info
    upserts = [info for name, info in wanted.items() if mirrored.get(name) != info]
    removes = sorted({*mirrored, *records} - set(wanted))
    return upserts, removes


def sync(draft: Draft, cameras: Mapping[Key, CameraView]) -> None:
    """Decide the mirror's writes; they count as done (a failed upsert is forgotten)."""
    upserts, removes = changes(cameras, draft.mirrored, draft.records)
    for info in upserts:
        draft.mirrored[info.id] = info
        draft.effects.append(UpsertCamera(info))
    for name in removes:
        draft.mirrored.pop(name, None)
        draft.records.pop(name, None)
        draft.effects.append(RemoveCamera(name))
