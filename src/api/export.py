"""Export: a time range of a camera as one MP4, by stream copy across segment files.

ffmpeg's concat demuxer reads the segments in order, from ``inpoint`` in the first
to ``outpoint`` in the last (a copy can only start at a keyframe, so the file starts
at the keyframe at or before the range's start), and writes fragmented MP4 with the
``moov`` first to a pipe, which is streamed as it comes: nothing of the range is
written to disk, and a player can start before the download ends.
"""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from spectare.live.procs import stop_process
from spectare.logs import get_logger
from spectare.store import Footage

log = get_logger(__name__)

CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class Piece:
    """One segment file of an export and the part of it wanted (seconds into the file)."""

    path: Path
    inpoint: float | None
    outpoint: float | None


def plan(segments: Iterable[Footage], start: float, end: float, root: Path) -> list[Piece]:
    """The pieces of [start, end) from ``segments`` (ordered by start), skipping files that
    are gone and segments wholly inside one already taken (two runs that overlapped)."""
    pieces: list[Piece] = []
    reached = float("-inf")
    for segment in segments:
        if segment.end <= max(start, reached) or segment.start >= end:
            continue
        path = root / segment.path
        if not path.is_file():
            continue
        # A segment that overlaps the one before starts where that one ended.
        begin = max(start, reached)
        inpoint = begin - segment.start if begin > segment.start else None
        outpoint = end - segment.start if end < segment.end else None
        pieces.append(Piece(path, inpoint, outpoint))
        reached = segment.end
    return pieces


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "'\\''") + "'"


def concat_list(pieces: Iterable[Piece]) -> str:
    """The concat demuxer's script for ``pieces``."""
    lines = ["ffconcat version 1.0"]
    for piece in pieces:
        lines.append(f"file {_quoted(piece.path.resolve())}")
        if piece.inpoint is not None:
            lines.append(f"inpoint {piece.inpoint:.3f}")
        if piece.outpoint is not None:
            lines.append(f"outpoint {piece.outpoint:.3f}")
    return "\n".join(lines) + "\n"


def export_command(ffmpeg: str, script: Path) -> list[str]:
    """ffmpeg joining the pieces listed in ``script`` into fragmented MP4 on stdout."""
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error"]
    cmd += ["-f", "concat", "-safe", "0", "-i", str(script)]
    cmd += ["-map", "0:v:0", "-c", "copy", "-an", "-sn", "-dn", "-avoid_negative_ts", "make_zero"]
    cmd += ["-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof", "pipe:1"]
    return cmd


class ExportFailed(RuntimeError):
    """ffmpeg wrote nothing; the message is its error."""


class ExportStream:
    """A running export: iterate for the bytes; ``close`` stops ffmpeg and cleans up."""

    def __init__(self, ffmpeg: str, pieces: list[Piece]) -> None:
        fd, name = tempfile.mkstemp(prefix="spectare-export-", suffix=".ffconcat")
        self._script = Path(name)
        with os.fdopen(fd, "w") as handle:
            handle.write(concat_list(pieces))
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._process = subprocess.Popen(
            export_command(ffmpeg, self._script),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._errors,
        )
        # A buffered pipe: read1 returns what is there without waiting for a full chunk.
        self._stdout = cast(io.BufferedReader, self._process.stdout)
        self._first = b""
        self.closed = False

    def begin(self) -> None:
        """Wait for ffmpeg's first bytes; ExportFailed (after closing) when none come."""
        self._first = self._stdout.read1(CHUNK_BYTES)
        if not self._first:
            self._process.wait()
            self._errors.seek(0)
            message = self._errors.read().decode("utf-8", "replace").strip()
            self.close()
            raise ExportFailed(message or f"ffmpeg exited with {self._process.returncode}")

    def __iter__(self) -> Iterator[bytes]:
        if self._first:
            yield self._first
        while chunk := self._stdout.read1(CHUNK_BYTES):
            yield chunk

    def kill(self) -> None:
        """Stop ffmpeg from any thread (server shutdown): the reader then sees the end."""
        stop_process(self._process)

    def close(self) -> None:
        """Stop ffmpeg (the client left, or it is done) and remove the script."""
        if self.closed:
            return
        self.closed = True
        code = stop_process(self._process)
        self._stdout.close()
        self._errors.close()
        self._script.unlink(missing_ok=True)
        log.debug("export.ffmpeg_ended", code=code)
