"""Where footage lives: ``<root>/<camera>/<YYYY>/<MM>/<DD>/<uuid>.<ext>`` (dates in UTC)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

#: ffmpeg writes segments here under temporary names; renamed into the tree when closed.
INCOMING = ".incoming"
#: Leftovers that no tool can play are moved here, never deleted.
QUARANTINE = ".quarantine"
SEGMENT_SUFFIXES = frozenset({".mp4", ".ts", ".mkv"})


def day_dir(camera: str, start: float) -> str:
    """The camera's folder for the UTC day of ``start``, relative to the root."""
    return f"{camera}/{time.strftime('%Y/%m/%d', time.gmtime(start))}"


def segment_relpath(camera: str, start: float, segment_id: str, ext: str) -> str:
    """A segment's path relative to the footage root."""
    return f"{day_dir(camera, start)}/{segment_id}.{ext}"


def thumbnail_relpath(segment_relpath: str) -> str:
    """The thumbnail beside a segment: same name, ``.jpg``."""
    return str(Path(segment_relpath).with_suffix(".jpg"))


def camera_dir(root: Path, camera: str) -> Path:
    """All of a camera's footage."""
    return root / camera


def incoming_dir(root: Path, camera: str) -> Path:
    """Where a camera's segments are written before they are finished."""
    return root / camera / INCOMING


def quarantine_dir(root: Path, camera: str) -> Path:
    """Where unplayable leftovers of a camera are kept."""
    return root / camera / QUARANTINE


def resolve(root: Path, relpath: str) -> Path:
    """An indexed relative path under ``root``; ValueError if it would leave the root."""
    full = (root / relpath).resolve()
    if not full.is_relative_to(root.resolve()):
        raise ValueError(f"path {relpath!r} leaves the footage root")
    return full


def camera_files(root: Path, camera: str, days: list[str] | None = None) -> Iterator[Path]:
    """A camera's segment files in the dated tree (optionally only the given day folders)."""
    base = root / camera
    folders = [base / day for day in days] if days is not None else [base]
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.suffix in SEGMENT_SUFFIXES and not _hidden(path.relative_to(base)):
                yield path


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)
