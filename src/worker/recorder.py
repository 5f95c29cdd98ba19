"""One run of ffmpeg: start it, hear of each closed segment, stop it gracefully.

A watchdog restarts a camera that keeps its session open but sends no video: ffmpeg's
own ``-timeout`` does not fire then. It looks at what ffmpeg has written, one directory
listing every third of the stall time (5 s by default): each look wakes the worker, and
at one a second the looks were a third of an idle worker's CPU.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from spectare.logs import get_logger
from spectare.worker.ffmpeg import (
    Timeline,
    is_noise,
    line_level,
    parse_segment_line,
    parse_video_stream,
)

log = get_logger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child: if the worker dies (even by SIGKILL), ffmpeg gets SIGTERM and
    closes its segment cleanly instead of recording on, unwatched."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass(frozen=True)
class Closed:
    """A segment ffmpeg closed: its file, wall-clock span, and the run's video stream
    (codec, width, height) when ffmpeg described it."""

    path: Path
    start: float
    end: float
    video: tuple[str, int, int] | None


OnSegment = Callable[[Closed], None]

#: The watchdog looks at the files ffmpeg writes this many times per stall time, at
#: most once a second: a stall is seen at most a third late.
WATCHES_PER_STALL = 3
#: A stalled ffmpeg is asked to stop, and killed if it has not after this long.
STALL_GRACE_SECONDS = 3.0


class Recorder:
    """Runs one ffmpeg recording; ``wait`` returns its exit code and last log lines."""

    def __init__(
        self,
        command: list[str],
        incoming: Path,
        on_segment: OnSegment,
        on_started: Callable[[], None],
        prefix: str = "",
        stall_seconds: float | None = None,
    ) -> None:
        self.command = command
        self.incoming = incoming
        self.on_segment = on_segment
        self.on_started = on_started
        self.prefix = prefix
        self.stall_seconds = stall_seconds
        #: (codec, width, height) of the video, once ffmpeg has described it.
        self.video: tuple[str, int, int] | None = None
        self.tail: deque[str] = deque(maxlen=40)
        #: Whether the watchdog stopped ffmpeg because no video arrived.
        self.stalled = False
        #: Names of the segments ffmpeg reported closed.
        self.reported: set[str] = set()
        self._process: subprocess.Popen[str] | None = None
        self._stop_sent_at: float | None = None
        self._timeline = Timeline(time.time())
        self._readers: list[threading.Thread] = []
        self._exited = threading.Event()

    def start(self) -> None:
        """Start ffmpeg; must be called from the worker's main thread (see _die_with_parent)."""
        self._timeline = Timeline(time.time())
        self._process = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            preexec_fn=_die_with_parent,
            # Signals from a terminal reach the worker only; it decides how ffmpeg stops.
            start_new_session=True,
        )
        self._readers = [
            threading.Thread(target=self._read_list, name="segment-list", daemon=True),
            threading.Thread(target=self._read_log, name="ffmpeg-log", daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        if self.stall_seconds is not None:
            threading.Thread(target=self._watch, name="stall-watchdog", daemon=True).start()
        log.info("ffmpeg.started", pid=self._process.pid)

    def _read_list(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            entry = parse_segment_line(line)
            if entry is not None:
                self.reported.add(entry.name)
                start, end = self._timeline.place(entry, time.time())
                self.on_segment(Closed(self.incoming / entry.name, start, end, self.video))

    def _read_log(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for raw in self._process.stderr:
            line = raw.rstrip()
            if not line:
                continue
            self.tail.append(line)
            level = line_level(line)
            if self.video is None and "Video:" in line:
                self.video = parse_video_stream(line)
            if line.startswith("[info] Output #0") or "Stream mapping:" in line:
                self.on_started()
            if level in ("warning", "error", "fatal", "panic") and not is_noise(line):
                # Scrubbed by the log formatter: ffmpeg echoes the URL, password included.
                log.warning("ffmpeg.said", level=level, line=line)
            else:
                log.debug("ffmpeg.said", level=level, line=line)

    def _written(self) -> tuple[int, ...]:
        """What this run has written so far: sizes of its files still being written."""
        try:
            with os.scandir(self.incoming) as entries:
                sizes = sorted(e.stat().st_size for e in entries if e.name.startswith(self.prefix))
            return (*sizes, len(self.reported))
        except OSError:
            return (len(self.reported),)

    def _watch(self) -> None:
        assert self.stall_seconds is not None
        seen, since = self._written(), time.monotonic()
        every = max(1.0, self.stall_seconds / WATCHES_PER_STALL)
        while not self._exited.wait(every):
            now, written = time.monotonic(), self._written()
            if written != seen:
                seen, since = written, now
            elif now - since >= self.stall_seconds and self._stop_sent_at is None:
                log.warning("camera.stalled", seconds=round(now - since, 1))
                self.stalled = True
                self.stop(grace=STALL_GRACE_SECONDS)
                return

    def stop(self, grace: float = 30.0) -> None:
        """Ask ffmpeg to finish the current segment and exit, killing it after ``grace``
        seconds (once: a second signal makes ffmpeg abort the write in progress)."""
        process = self._process
        if self._stop_sent_at is None and process is not None and process.poll() is None:
            self._stop_sent_at = time.monotonic()
            process.send_signal(signal.SIGINT)
            timer = threading.Timer(grace, self._kill_if_alive)
            timer.daemon = True
            timer.start()

    def _kill_if_alive(self) -> None:
        if self._process is not None and self._process.poll() is None:
            log.warning("ffmpeg.kill", reason="did not stop in time")
            self._process.kill()

    def wait(self) -> int:
        """Wait for ffmpeg to exit and for its output to be read; its exit code."""
        assert self._process is not None
        # A blocking wait, not a polling loop: an idle worker should cost nothing.
        code = self._process.wait()
        self._exited.set()
        for reader in self._readers:
            reader.join(timeout=10)
        return code
