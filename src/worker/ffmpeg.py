"""ffmpeg command lines and the reading of what ffmpeg says: pure functions only."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from spectare.camera import CameraSpecView
from spectare.settings import Container

#: Muxer per container; fragmented MP4 keeps what was written playable after a kill.
_MUXERS: dict[str, str] = {"mp4": "mp4", "ts": "mpegts", "mkv": "matroska"}
#: Short fragments bound what a SIGKILL can lose to about this many microseconds.
FRAGMENT_MICROSECONDS = 500_000


@dataclass(frozen=True)
class RecordJob:
    """Everything one recording run of ffmpeg needs."""

    url: str
    spec: CameraSpecView
    container: Container
    incoming: Path
    run_id: str
    rw_timeout_seconds: float = 10.0
    ffmpeg: str = "ffmpeg"


def segment_options(container: Container) -> list[str]:
    """Muxer options of one segment file.

    ``flush_packets=1`` hands what the inner muxer wrote to the kernel at once: without it
    up to 32 kB wait in ffmpeg's buffer, which is seconds of a quiet camera's picture, all
    lost when ffmpeg is killed.
    """
    options = ["flush_packets=1"]
    if container == "mp4":
        flags = "+frag_keyframe+empty_moov+default_base_moof"
        options += [f"movflags={flags}", f"frag_duration={FRAGMENT_MICROSECONDS}"]
    if container == "mkv":
        options.append("cluster_time_limit=500")
    return ["-segment_format_options", ":".join(options)]


#: Bitstream filters that keep only keyframes (with their parameter sets, in Annex B),
#: per codec: the raw muxer for the codec, and the NAL unit types to pass. Motion reads
#: the keyframes of ts and mkv segments through them (fragmented MP4 is read directly).
_KEYFRAME_FILTERS: dict[str, tuple[str, str]] = {
    "h264": ("h264", "h264_mp4toannexb,dump_extra=freq=keyframe,filter_units=pass_types=5|7|8"),
    "hevc": (
        "hevc",
        "hevc_mp4toannexb,dump_extra=freq=keyframe,filter_units=pass_types=16-21|32-34",
    ),
}


def keyframe_components() -> tuple[set[str], set[str]]:
    """The raw muxers and bitstream filters motion needs from ffmpeg's build for ts and mkv."""
    muxers = {muxer for muxer, _ in _KEYFRAME_FILTERS.values()}
    filters = {
        part.split("=", 1)[0]
        for _, chain in _KEYFRAME_FILTERS.values()
        for part in chain.split(",")
    }
    return muxers, filters


def keyframes_command(ffmpeg: str, path: Path, codec: str) -> list[str] | None:
    """ffmpeg copying a segment's keyframes (nothing else, nothing decoded) to stdout in
    Annex B; None for a codec without keyframe filter."""
    if codec not in _KEYFRAME_FILTERS:
        return None
    muxer, filters = _KEYFRAME_FILTERS[codec]
    return [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
            "-map", "0:v:0", "-c", "copy", "-bsf:v", filters, "-f", muxer, "pipe:1"]  # fmt: skip


def record_command(job: RecordJob) -> list[str]:
    """The ffmpeg command that records ``job``: stream copy, segment list on stdout."""
    timeout_us = str(int(job.rw_timeout_seconds * 1_000_000))
    cmd = [job.ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "level+info", "-nostats"]
    cmd += ["-rtsp_transport", job.spec.transport.value, "-timeout", timeout_us]
    # A short probe: ffmpeg buffers what it probes and then writes it in a burst, which
    # blurs the wall-clock placement of the first segments (see Timeline).
    cmd += ["-analyzeduration", "1000000", "-probesize", "1000000"]
    cmd += ["-fflags", "+genpts", "-i", job.url]
    cmd += ["-map", "0:v:0", "-c", "copy", "-an", "-sn", "-dn"]
    cmd += ["-f", "segment", "-segment_time", str(job.spec.segment_seconds)]
    cmd += ["-segment_format", _MUXERS[job.container], *segment_options(job.container)]
    cmd += ["-reset_timestamps", "1", "-flush_packets", "1"]
    cmd += ["-segment_list", "pipe:1", "-segment_list_type", "csv"]
    cmd += [str(job.incoming / f"{job.run_id}-%06d.{job.container}")]
    return cmd


def decode_command(ffmpeg: str, codec: str, grid: tuple[int, int]) -> list[str]:
    """A decoder: Annex B keyframes on stdin until it closes, tiny grey frames on stdout.

    No probing, one thread, no deblocking: a keyframe scaled to a few dozen pixels needs
    none of them."""
    width, height = grid
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "fatal"]
    cmd += ["-probesize", "32", "-analyzeduration", "0"]
    cmd += ["-skip_loop_filter", "all", "-threads", "1"]
    cmd += ["-f", codec, "-i", "pipe:0"]
    cmd += ["-vf", f"scale={width}:{height}:flags=area,format=gray", "-threads", "1"]
    cmd += ["-fps_mode", "passthrough", "-f", "rawvideo", "pipe:1"]
    return cmd


def remux_command(ffmpeg: str, source: Path, target: Path) -> list[str]:
    """Copy every packet of a damaged file into a new one of the same container, whose
    headers (duration, index) the muxer writes afresh."""
    return [ffmpeg, "-hide_banner", "-nostdin", "-v", "error", "-y", "-fflags", "+genpts",
            "-i", str(source), "-map", "0", "-c", "copy", str(target)]  # fmt: skip


def probe_command(ffprobe: str, path: Path) -> list[str]:
    """ffprobe asking for the first video stream and the duration, as JSON."""
    return [
        ffprobe, "-v", "error", "-select_streams", "v:0",
        "-show_entries", "format=duration,size:stream=codec_name,width,height",
        "-of", "json", str(path),
    ]  # fmt: skip


@dataclass(frozen=True)
class SegmentEntry:
    """One line of the segment list: ffmpeg closed ``name``."""

    name: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        """Seconds of media in the segment."""
        return max(0.0, self.end - self.start)


def parse_segment_line(line: str) -> SegmentEntry | None:
    """A CSV segment-list line (``name,start,end``), or None if it is not one."""
    parts = line.strip().rsplit(",", 2)
    if len(parts) != 3:
        return None
    name, start, end = parts
    try:
        return SegmentEntry(name.strip('"'), float(start), float(end))
    except ValueError:
        return None


class Timeline:
    """Places segments on the wall clock.

    The segment list gives times on the stream's own clock, starting at zero. A line
    arrives no earlier than its segment really ended, and late when ffmpeg was busy
    (it reads a burst while probing the stream), so the stream's zero is best estimated
    by the smallest ``arrival - end`` seen lately; a sliding window follows camera
    clock drift. The stream cannot start before ffmpeg did.
    """

    def __init__(self, started_at: float, window: int = 12) -> None:
        self.started_at = started_at
        self.window = window
        self._offsets: list[float] = []

    def place(self, entry: SegmentEntry, arrived_at: float) -> tuple[float, float]:
        """Wall-clock (start, end) of a segment whose list line arrived at ``arrived_at``."""
        self._offsets = [*self._offsets[-(self.window - 1) :], arrived_at - entry.end]
        zero = max(self.started_at, min(self._offsets))
        return zero + entry.start, zero + entry.end


class Cause(StrEnum):
    """Why a recording run ended."""

    AUTH = "authentication failed"
    UNREACHABLE = "camera unreachable"
    NOT_FOUND = "stream not found"
    ENDED = "stream ended"
    STALLED = "camera sends no video"
    STOPPED = "stopped"


_CAUSES: list[tuple[Cause, re.Pattern[str]]] = [
    (Cause.AUTH, re.compile(r"401 Unauthorized|403 Forbidden|authoriz|authentic", re.I)),
    (Cause.NOT_FOUND, re.compile(r"404 Not Found|454 Session Not Found", re.I)),
    (
        Cause.UNREACHABLE,
        re.compile(
            r"Connection refused|Connection timed out|No route to host|Network is unreachable|"
            r"Name or service not known|Temporary failure in name resolution|Operation timed out|"
            r"Connection reset",
            re.I,
        ),
    ),
]


def classify_exit(lines: list[str], stopping: bool) -> Cause:
    """Why ffmpeg ended, judged from its last log lines."""
    if stopping:
        return Cause.STOPPED
    for cause, pattern in _CAUSES:
        if any(pattern.search(line) for line in lines):
            return cause
    return Cause.ENDED


#: Warnings ffmpeg repeats for every stream of every camera that mean nothing to a user.
_NOISE = re.compile(
    r"deprecated pixel format used|Timestamps are unset in a packet|"
    r"Invalid DTS: .* replacing by guess|Non-monotonous DTS"
)


def is_noise(line: str) -> bool:
    """Whether a warning is one ffmpeg emits routinely for camera streams."""
    return bool(_NOISE.search(line))


_VIDEO = re.compile(r"Stream #0:\d+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})")


def parse_video_stream(line: str) -> tuple[str, int, int] | None:
    """(codec, width, height) from ffmpeg's description of the input's video stream."""
    match = _VIDEO.search(line)
    return (match[1], int(match[2]), int(match[3])) if match else None


_LEVEL = re.compile(r"\[(trace|debug|verbose|info|warning|error|fatal|panic)\]")


def line_level(line: str) -> str:
    """ffmpeg's level of a ``-loglevel level+...`` line (``info`` when unmarked)."""
    match = _LEVEL.search(line)
    return match.group(1) if match else "info"
