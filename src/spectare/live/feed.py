"""Live view: one ffmpeg per watched camera, its fragmented MP4 fanned out to every viewer.

A feed runs ``ffmpeg -c copy`` from the camera to fragmented MP4 on a pipe (the
picture is never decoded), cuts the pipe into top-level boxes, keeps the init segment
and the fragments since the latest keyframe, and hands each fragment to every viewer's
bounded queue. A new viewer gets the init segment and that group of pictures, so it
starts at a keyframe at once. A viewer that falls behind is dropped, never buffered
without bound. The ffmpeg stops when the last viewer leaves: a camera allows only a
few sessions, and every viewer shares this one.
"""

from __future__ import annotations

import collections
import queue
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass

from spectare.live import mp4
from spectare.live.procs import stop_process
from spectare.logs import get_logger
from spectare.redact import scrub

log = get_logger(__name__)

#: Fragments a viewer may lag behind (fragments are about 0.2 s) before it is dropped.
VIEWER_QUEUE = 50
#: The group of pictures kept for new viewers is capped; past it they wait for a keyframe.
GOP_CACHE_BYTES = 8 * 1024 * 1024
_END = b""


@dataclass(frozen=True)
class LiveInput:
    """Where a camera's stream is: the URL (credentials filled in) and the RTSP transport,
    or a worker's relay (http) and the token it wants."""

    url: str
    transport: str = "tcp"
    token: str | None = None


def live_command(ffmpeg: str, source: LiveInput, rw_timeout_seconds: float) -> list[str]:
    """ffmpeg copying the camera's video into fragments of about 0.2 s on stdout."""
    cmd = [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "level+warning", "-nostats"]
    timeout = str(int(rw_timeout_seconds * 1_000_000))
    if source.url.startswith(("rtsp://", "rtsps://")):
        cmd += ["-rtsp_transport", source.transport, "-timeout", timeout]
    elif source.url.startswith("http"):
        cmd += ["-rw_timeout", timeout]
        if source.token:
            cmd += ["-headers", f"Authorization: Bearer {source.token}\r\n"]
    if source.token is None:
        cmd += ["-analyzeduration", "1000000", "-probesize", "1000000"]
    else:
        # A relay's stream opens with its moov, which says all there is to know.
        cmd += ["-analyzeduration", "0", "-probesize", "32", "-fpsprobesize", "0"]
    cmd += ["-fflags", "+genpts+nobuffer"]
    cmd += ["-i", source.url, "-map", "0:v:0", "-c", "copy", "-an", "-sn", "-dn"]
    cmd += ["-f", "mp4", "-movflags", "frag_keyframe+empty_moov+default_base_moof"]
    cmd += ["-frag_duration", "200000", "-flush_packets", "1", "pipe:1"]
    return cmd


class Viewer:
    """One browser watching: the init segment, then fragments, then the end."""

    def __init__(self, feed: LiveFeed) -> None:
        self.feed = feed
        self.queue: queue.Queue[bytes] = queue.Queue(VIEWER_QUEUE)
        self.dropped = False

    def offer(self, data: bytes) -> bool:
        """Queue ``data``; False (and the viewer dropped) when it is too far behind."""
        try:
            self.queue.put_nowait(data)
            return True
        except queue.Full:
            self.dropped = True
            return False

    def end(self) -> None:
        """No more fragments will come."""
        try:
            self.queue.put_nowait(_END)
        except queue.Full:
            self.dropped = True

    def next(self, timeout: float) -> bytes | None:
        """The next fragment; None at the end, when dropped, or after ``timeout`` of silence."""
        if self.dropped:
            return None
        try:
            data = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        return data or None


class LiveFeed:
    """One camera's ffmpeg and its viewers."""

    def __init__(self, camera: str, command: list[str], on_idle: Callable[[LiveFeed], None]):
        self.camera = camera
        self._command = command
        self._on_idle = on_idle
        self._lock = threading.Lock()
        self._viewers: list[Viewer] = []
        self._gop: list[bytes] = []
        self._gop_bytes = 0
        self.codec: str | None = None
        self.init: bytes | None = None
        self.ready = threading.Event()  # set once the init segment is known, or on failure
        self.error: str | None = None
        self.tail: collections.deque[str] = collections.deque(maxlen=10)
        self._process: subprocess.Popen[bytes] | None = None
        self._closed = False

    def start(self) -> None:
        """Start ffmpeg and the threads reading its output and its log."""
        self._process = subprocess.Popen(
            self._command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        log.info("live.started", camera=self.camera, pid=self._process.pid)
        self._log_thread = threading.Thread(
            target=self._read_log, name=f"live-log-{self.camera}", daemon=True
        )
        self._log_thread.start()
        threading.Thread(target=self._pump, name=f"live-{self.camera}", daemon=True).start()

    def join(self) -> Viewer | None:
        """A new viewer, primed with the init segment and the current group of pictures;
        None if the feed has already ended."""
        viewer = Viewer(self)
        with self._lock:
            if self._closed:
                return None
            for fragment in self._gop:
                viewer.offer(fragment)
            self._viewers.append(viewer)
        return viewer

    def viewer_count(self) -> int:
        """Viewers now."""
        with self._lock:
            return len(self._viewers)

    def leave(self, viewer: Viewer) -> None:
        """Forget ``viewer``; the last to leave stops the feed."""
        with self._lock:
            if viewer in self._viewers:
                self._viewers.remove(viewer)
            idle = not self._viewers and not self._closed
        if idle:
            self.close("no viewers left")

    def close(self, reason: str) -> None:
        """Stop ffmpeg and end every viewer's stream."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            viewers, self._viewers = self._viewers, []
        for viewer in viewers:
            viewer.end()
        self.ready.set()
        if self._process is not None:
            stop_process(self._process)
            log.info("live.stopped", camera=self.camera, reason=reason)
        self._on_idle(self)

    def _pump(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        pipe = self._process.stdout
        reason = "the camera stream ended"
        try:
            self._cut(mp4.read_boxes(pipe.read))
        except (mp4.Mp4Error, OSError, ValueError) as exc:
            reason = f"unreadable stream: {exc}"
        finally:
            pipe.close()
        if self.init is None:
            self._log_thread.join(2.0)  # ffmpeg's last words say why
            self.error = "; ".join(scrub(line) for line in self.tail) or reason
        self.close(reason)

    def _cut(self, boxes: collections.abc.Iterator[mp4.Box]) -> None:
        head: list[bytes] = []
        defaults: int | None = None
        moof: mp4.Box | None = None
        for box in boxes:
            if box.kind in (b"ftyp", b"moov"):
                head.append(box.data)
                if box.kind == b"moov":
                    self.codec, defaults = mp4.codec_of(box), mp4.trex_default_flags(box)
                    self.init = b"".join(head)
                    self.ready.set()
            elif box.kind == b"moof":
                moof = box
            elif box.kind == b"mdat" and moof is not None:
                self._publish(moof.data + box.data, mp4.starts_with_keyframe(moof, defaults))
                moof = None

    def _publish(self, fragment: bytes, keyframe: bool) -> None:
        with self._lock:
            if keyframe:
                self._gop, self._gop_bytes = [], 0
            if self._gop_bytes + len(fragment) <= GOP_CACHE_BYTES and (keyframe or self._gop):
                self._gop.append(fragment)
                self._gop_bytes += len(fragment)
            else:
                self._gop, self._gop_bytes = [], 0  # new viewers wait for the next keyframe
            slow = [viewer for viewer in self._viewers if not viewer.offer(fragment)]
            for viewer in slow:
                self._viewers.remove(viewer)
        for _ in slow:
            log.warning("live.viewer_dropped", camera=self.camera, reason="too far behind")

    def _read_log(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        with self._process.stderr as pipe:
            for raw in pipe:
                line = raw.decode("utf-8", "replace").rstrip()
                if line:
                    self.tail.append(line)
                    log.debug("live.ffmpeg", camera=self.camera, line=scrub(line))
