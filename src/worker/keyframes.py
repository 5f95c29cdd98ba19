"""Motion of a closed segment, from a few of its keyframes: the recording never decodes.

Once ffmpeg has closed a segment, a keyframe every ``every`` seconds is taken from the
file and handed to one short-lived decoder ffmpeg that answers with tiny grey frames;
the score is the largest change between consecutive samples, the last sample of the
segment before included. Decoding a grainy 1080p keyframe costs ~12 ms of CPU, so three
a minute are ~10 % of what receiving a 4 Mbit/s stream costs. A decoder that lives only
while it decodes holds its ~15 MB of frame buffers for a few dozen milliseconds a
segment, not for the whole recording (measured in bench/record_cost).
"""

from __future__ import annotations

import itertools
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from spectare.logs import get_logger
from spectare.worker.ffmpeg import decode_command, keyframes_command
from spectare.worker.motion import frames_of, motion_score
from spectare.worker.mp4_keyframes import annex_b, read_keyframes

log = get_logger(__name__)

#: Keyframes are scaled to this size before scoring: enough to see a person cross
#: the picture, small enough to score in pure Python.
GRID = (64, 36)
#: One keyframe in this many seconds is decoded (fewer for short segments).
SAMPLE_SECONDS = 20.0
#: Longest a decoder or keyframe extraction may take before the segment goes unscored.
TOOL_TIMEOUT_SECONDS = 60.0
_START = b"\x00\x00\x01"


def sample_seconds(segment_seconds: int) -> float:
    """How often to sample: every SAMPLE_SECONDS, but at least twice per segment."""
    return max(1.0, min(SAMPLE_SECONDS, segment_seconds / 2))


def pick(times: Sequence[float], every: float) -> list[int]:
    """Indices of the keyframes to decode: the first, then each first one at least
    ``every`` seconds after the last one picked."""
    picked: list[int] = []
    for index, moment in enumerate(times):
        if not picked or moment - times[picked[-1]] >= every - 1e-6:
            picked.append(index)
    return picked


def _parameter_set(codec: str, header: int) -> bool:
    """Whether a NAL unit with this first header byte is a parameter set (SPS or PPS for
    H.264; VPS, SPS or PPS for HEVC)."""
    if codec == "hevc":
        return (header >> 1) & 0x3F in (32, 33, 34)
    return header & 0x1F in (7, 8)


def split_units(data: bytes, codec: str) -> list[bytes]:
    """The keyframe access units of an Annex B stream of keyframes only.

    ffmpeg puts the parameter sets before each keyframe (sometimes twice): a unit opens
    at the first parameter set after a picture's slices."""
    starts: list[int] = []
    in_header = False
    at = data.find(_START)
    while at != -1 and at + 3 < len(data):
        header = _parameter_set(codec, data[at + 3])
        if header and not in_header:
            starts.append(at - 1 if at > 0 and data[at - 1] == 0 else at)
        in_header = header
        at = data.find(_START, at + 3)
    return [data[a:b] for a, b in itertools.pairwise([*starts, len(data)])]


def _mp4_samples(path: Path, every: float) -> tuple[str, list[bytes]] | None:
    found = read_keyframes(path)
    if found is None:
        return None
    track, keyframes = found
    samples = []
    with path.open("rb") as file:
        for index in pick([k.seconds for k in keyframes], every):
            file.seek(keyframes[index].offset)
            sample = file.read(keyframes[index].size)
            samples.append(track.parameter_sets + annex_b(sample, track.length_size))
    return track.codec, samples


def _copied_samples(
    ffmpeg: str, path: Path, codec: str, seconds: float, every: float
) -> list[bytes] | None:
    """Keyframes of a ts or mkv segment, copied out by ffmpeg (~0.1 s of CPU a minute of
    footage); taken as evenly spread, since the copy carries no times."""
    command = keyframes_command(ffmpeg, path, codec)
    if command is None:
        return None
    done = subprocess.run(command, capture_output=True, timeout=TOOL_TIMEOUT_SECONDS)
    units = split_units(done.stdout, codec)
    if done.returncode != 0 or not units:
        return None
    step = seconds / len(units)
    return [units[i] for i in pick([i * step for i in range(len(units))], every)]


@dataclass
class SegmentMotion:
    """Scores the segments of one camera in order, carrying each one's last sample over."""

    ffmpeg: str
    every: float
    #: (wall-clock end of the segment it came from, grey frame) of the last sample.
    _last: tuple[float, bytes] | None = None

    def score(self, path: Path, codec: str, start: float, end: float) -> float | None:
        """The segment's motion, 0.0 (still) to 1.0; None when it could not be scored."""
        try:
            if path.suffix == ".mp4":
                found = _mp4_samples(path, self.every)
                codec, samples = found if found is not None else (codec, None)
            else:
                samples = _copied_samples(self.ffmpeg, path, codec, end - start, self.every)
            frames = self._decode(codec, samples) if samples else []
        except (OSError, ValueError, IndexError, struct.error, subprocess.SubprocessError) as exc:
            # A damaged file or a decoder that fails costs this segment its score only.
            log.warning("motion.failed", file=path.name, error=str(exc))
            frames = []
        # A gap (a reconnect, an unscored segment) ends the chain: comparing pictures
        # minutes apart would score the light changing, not motion.
        previous = self._last if self._last and start - self._last[0] <= self.every else None
        self._last = (end, frames[-1]) if frames else None
        if not frames or (previous is None and len(frames) < 2):
            return None
        return motion_score([previous[1], *frames] if previous else frames)

    def _decode(self, codec: str, samples: list[bytes]) -> list[bytes]:
        done = subprocess.run(
            decode_command(self.ffmpeg, codec, GRID),
            input=b"".join(samples),
            capture_output=True,
            timeout=TOOL_TIMEOUT_SECONDS,
        )
        return list(frames_of(done.stdout, GRID[0] * GRID[1]))
