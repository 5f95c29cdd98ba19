"""Pictures made on demand: a segment's thumbnail and a camera's latest snapshot.

The worker never decodes the recording for a picture that nobody may look at. The API
makes one when it is first asked: a thumbnail from the first keyframe of its segment,
kept beside it (or in a cache when the footage is mounted read-only); a snapshot from the
newest keyframe of the file being written (else the newest segment), kept a few seconds.
Only keyframes are decoded, one or two of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

from spectare.layout import incoming_dir
from spectare.logs import get_logger

log = get_logger(__name__)

#: A snapshot younger than this is served as it is.
SNAPSHOT_MAX_AGE = 5.0
#: The snapshot is the last keyframe in this many seconds at the end of the file (GOPs of
#: cameras are 1-4 s); a file without a known duration is read from its start instead.
TAIL_SECONDS = 5.0
THUMBNAIL_WIDTH = 320
SNAPSHOT_WIDTH = 640
#: Thumbnails kept in the cache (for read-only footage), ~15 kB each: the oldest go first.
CACHED_THUMBNAILS = 2000


def cache_dir(root: Path) -> Path:
    """Where pictures of the footage under ``root`` go that are not kept beside it."""
    key = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "spectare-pictures" / key


def picture_command(
    ffmpeg: str, source: Path, target: Path, width: int, *, last: bool, tail: float | None
) -> list[str]:
    """ffmpeg decoding keyframes only into one JPEG: the first keyframe, or (``last``)
    the last one, of the whole file or of its final ``tail`` seconds."""
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
    cmd += ["-skip_frame", "nokey", "-threads", "1"]
    if tail is not None:
        cmd += ["-sseof", f"-{tail:g}"]
    cmd += ["-i", str(source), "-map", "0:v:0", "-vf", f"scale={width}:-2", "-q:v", "5"]
    cmd += ["-update", "1"] if last else ["-frames:v", "1"]
    return [*cmd, "-f", "image2", str(target)]


def _make(command: list[str], target: Path, timeout: float = 30.0) -> bool:
    """Run ``command`` writing to ``target``; whether a picture came out."""
    target.unlink(missing_ok=True)
    try:
        subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("api.picture_failed", file=target.name, error=str(exc))
        return False
    return target.is_file() and target.stat().st_size > 0


def to_prune(entries: list[tuple[str, float]], keep: int) -> list[str]:
    """Names of the oldest (name, mtime) entries beyond the newest ``keep``."""
    return [name for name, _ in sorted(entries, key=lambda e: e[1], reverse=True)[keep:]]


def prune_folder(folder: Path, keep: int) -> None:
    """Delete the oldest files of ``folder`` beyond the newest ``keep``."""
    try:
        with os.scandir(folder) as listing:
            entries = [(e.name, e.stat().st_mtime) for e in listing if e.is_file()]
    except OSError:
        return
    for name in to_prune(entries, keep):
        with contextlib.suppress(OSError):
            (folder / name).unlink()


def _publish(made: Path, target: Path) -> Path:
    os.replace(made, target)  # atomic: a reader sees the old picture or the new one
    return target


def thumbnail(ffmpeg: str, root: Path, segment: Path, beside: Path) -> Path | None:
    """The thumbnail of ``segment``: ``beside`` it if it exists or can be written there,
    else a cached one; None when the segment has no decodable keyframe."""
    if beside.is_file():
        return beside
    cached = cache_dir(root) / "thumbnails" / beside.name
    if cached.is_file():
        return cached
    for target in (beside, cached):
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if not os.access(target.parent, os.W_OK):
            continue  # footage mounted read-only: the cache instead
        work = target.with_name(f".{os.getpid()}-{target.name}")
        command = picture_command(ffmpeg, segment, work, THUMBNAIL_WIDTH, last=False, tail=None)
        if _make(command, work):
            if target == cached:
                prune_folder(cached.parent, CACHED_THUMBNAILS - 1)
            return _publish(work, target)
        work.unlink(missing_ok=True)
        return None
    return None


def newest_file(root: Path, camera: str, indexed: Path | None) -> Path | None:
    """The file with the camera's newest picture: the segment being written, else the
    newest indexed one."""
    candidates: list[tuple[float, Path]] = []
    with contextlib.suppress(OSError), os.scandir(incoming_dir(root, camera)) as entries:
        for entry in entries:
            stat = entry.stat()
            if entry.is_file() and not entry.name.startswith(".") and stat.st_size > 0:
                candidates.append((stat.st_mtime, Path(entry.path)))
    if candidates:
        return max(candidates)[1]
    return indexed


def snapshot(ffmpeg: str, root: Path, camera: str, source: Path | None) -> Path | None:
    """The camera's latest picture from ``source`` (see newest_file), at most
    SNAPSHOT_MAX_AGE seconds old; None when there is nothing to take it from."""
    target = cache_dir(root) / "snapshots" / f"{camera}.jpg"
    with contextlib.suppress(OSError):
        if time.time() - target.stat().st_mtime < SNAPSHOT_MAX_AGE:
            return target
    if source is None:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.with_name(f".{os.getpid()}-{target.name}")
    # The tail first (cheap); a file being written may not say how long it is yet
    # (Matroska), and then every keyframe is read to reach the last.
    for tail in (TAIL_SECONDS, None):
        command = picture_command(ffmpeg, source, work, SNAPSHOT_WIDTH, last=True, tail=tail)
        if _make(command, work):
            return _publish(work, target)
    work.unlink(missing_ok=True)
    return target if target.is_file() else None
