"""Long responses (live views, exports): how many may run, and stopping them all.

Each streaming response holds a waitress thread for as long as it runs, so they get
a fixed number of slots below the thread count: short requests (pages, JSON, files,
which waitress sends from its own loop) always find a free thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from flask import Flask

from spectare.api.export import ExportStream
from spectare.live.hub import LiveHub, Sources

_KEY = "spectare.streams"
#: Live viewers and exports at once, per API process (the server runs more threads).
STREAM_SLOTS = 16


class Streams:
    """The live hub, the running exports and the slots they share."""

    def __init__(self, hub: LiveHub, slots: int = STREAM_SLOTS) -> None:
        self.hub = hub
        self._slots = threading.BoundedSemaphore(slots)
        self._exports: set[ExportStream] = set()
        self._lock = threading.Lock()
        self.closed = False

    def take_slot(self) -> bool:
        """A slot for one more stream, if one is free (released by ``Closing``)."""
        return not self.closed and self._slots.acquire(blocking=False)

    def release_slot(self) -> None:
        """Give a slot back."""
        self._slots.release()

    def add_export(self, export: ExportStream) -> None:
        """Track a running export so that shutdown can stop it."""
        with self._lock:
            self._exports.add(export)

    def drop_export(self, export: ExportStream) -> None:
        """Forget a finished export."""
        with self._lock:
            self._exports.discard(export)

    def close(self) -> None:
        """Stop every live feed and export, so the threads serving them return."""
        self.closed = True
        self.hub.close()
        with self._lock:
            exports = list(self._exports)
        for export in exports:
            export.kill()


class Closing:
    """A response body that runs ``cleanup`` exactly once when the server closes it,
    even when not a byte was sent (a generator's ``finally`` would not run then)."""

    def __init__(self, chunks: Iterator[bytes], cleanup: Callable[[], None]) -> None:
        self._chunks = chunks
        self._cleanup: Callable[[], None] | None = cleanup

    def __iter__(self) -> Closing:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        """Run the cleanup (once)."""
        cleanup, self._cleanup = self._cleanup, None
        if cleanup is not None:
            cleanup()


def install(app: Flask, sources: Sources, ffmpeg: str, rw_timeout_seconds: float) -> Streams:
    """Hang the streams of ``app`` on it."""
    streams = Streams(LiveHub(sources, ffmpeg, rw_timeout_seconds))
    app.extensions[_KEY] = streams
    return streams


def streams_of(app: Flask) -> Streams:
    """The streams of ``app``."""
    found: Streams = app.extensions[_KEY]
    return found
