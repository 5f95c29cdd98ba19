"""Motion from sparse keyframes, without decoding the recording.

The recording ffmpeg copies the camera's keyframes (and nothing else) into a pipe: no
decoding there. This module keeps one keyframe every ``every`` seconds, hands it to a
long-lived decoder ffmpeg that answers with a tiny grey frame, and scores the change
between consecutive samples. Decoding a grainy 1080p keyframe costs ~12 ms of CPU and an
ffmpeg start-up ~80 ms, against ~360 ms a minute for receiving the stream at 4 Mbit/s:
so one decoder per run (not one ffmpeg per segment), and one keyframe in 20 s (measured
in bench/record_cost: at 15 s the defaults cost 1.30x bare ffmpeg's CPU).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import threading
import time
from collections.abc import Callable
from typing import IO

from spectare.logs import get_logger
from spectare.worker.ffmpeg import decode_command
from spectare.worker.motion import changed_share

log = get_logger(__name__)

#: Keyframes are scaled to this size before scoring: enough to see a person cross
#: the picture, small enough to score in pure Python.
GRID = (64, 36)
#: One keyframe in this many seconds is decoded (fewer for short segments).
SAMPLE_SECONDS = 20.0
_START = b"\x00\x00\x01"
#: An access unit delimiter after each keyframe tells the decoder's parser that the
#: picture is complete, so the frame comes out now rather than with the next sample.
_DELIMITER = b"\x00\x00\x00\x01\x09\x10"


def _parameter_set(codec: str, header: int) -> bool:
    """Whether a NAL unit with this first header byte is a parameter set (SPS or PPS for
    H.264; VPS, SPS or PPS for HEVC)."""
    if codec == "hevc":
        return (header >> 1) & 0x3F in (32, 33, 34)
    return header & 0x1F in (7, 8)


def split_units(data: bytes, codec: str) -> tuple[list[bytes], bytes]:
    """Complete keyframe access units at the head of an Annex B stream, and the rest
    (the last unit is complete only when the next one begins).

    The recording ffmpeg puts the parameter sets before each keyframe (sometimes twice):
    a unit opens at the first parameter set after a picture's slices."""
    starts: list[int] = []
    in_header = False
    at = data.find(_START)
    while at != -1 and at + 3 < len(data):
        header = _parameter_set(codec, data[at + 3])
        if header and not in_header:
            starts.append(at - 1 if at > 0 and data[at - 1] == 0 else at)
        in_header = header
        at = data.find(_START, at + 3)
    if len(starts) < 2:
        return [], data[starts[0] :] if starts else data[-4:]
    units = [data[a:b] for a, b in itertools.pairwise(starts)]
    return units, data[starts[-1] :]


class MotionSampler:
    """Reads keyframes from ``source``, decodes one every ``every`` seconds, and keeps
    the largest change seen since the last ``take``."""

    def __init__(
        self,
        source: IO[bytes],
        codec: str,
        ffmpeg: str,
        every: float,
        preexec: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self.codec = codec
        self.every = every
        self._decoder = subprocess.Popen(
            decode_command(ffmpeg, codec, GRID),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            preexec_fn=preexec,
            start_new_session=True,
        )
        self._lock = threading.Lock()
        self._best: float | None = None
        self._previous: bytes | None = None
        self._threads = [
            threading.Thread(target=self._feed, name="keyframes", daemon=True),
            threading.Thread(target=self._score, name="motion", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def take(self) -> float | None:
        """The largest change since the last call (None when no two samples were compared)."""
        with self._lock:
            best, self._best = self._best, None
        return best

    def _feed(self) -> None:
        assert self._decoder.stdin is not None
        # Between samples the pipe is only drained: no copying, no scanning. When one is
        # due, bytes are kept from there on, and the first whole unit among them is sent.
        buffer, last = b"", float("-inf")
        try:
            while chunk := self.source.read1(1 << 16):  # type: ignore[attr-defined]
                if not buffer and time.monotonic() - last < self.every:
                    continue
                units, _ = split_units(buffer + chunk, self.codec)
                if not units:
                    buffer += chunk
                    continue
                last, buffer = time.monotonic(), b""
                self._decoder.stdin.write(units[0] + _DELIMITER)
                self._decoder.stdin.flush()
        except (OSError, ValueError) as exc:
            log.debug("motion.feed_ended", error=str(exc))
        finally:
            with contextlib.suppress(OSError):
                self._decoder.stdin.close()

    def _score(self) -> None:
        assert self._decoder.stdout is not None
        size = GRID[0] * GRID[1]
        while len(frame := self._decoder.stdout.read(size)) == size:
            if self._previous is not None:
                change = changed_share(self._previous, frame)
                with self._lock:
                    self._best = change if self._best is None else max(self._best, change)
            self._previous = frame

    def close(self) -> None:
        """Stop the decoder once the recording ffmpeg has closed the pipe."""
        self._threads[0].join(timeout=5)
        try:
            self._decoder.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._decoder.kill()
            self._decoder.wait()
        self._threads[1].join(timeout=5)
        with contextlib.suppress(OSError):
            self.source.close()


def sample_seconds(segment_seconds: int) -> float:
    """How often to sample: every SAMPLE_SECONDS, but at least twice per segment."""
    return max(1.0, min(SAMPLE_SECONDS, segment_seconds / 2))


def keyframe_pipe() -> tuple[IO[bytes], int]:
    """(reading end for the sampler, writing end's descriptor to hand to ffmpeg)."""
    read_fd, write_fd = os.pipe()
    return os.fdopen(read_fd, "rb"), write_fd
