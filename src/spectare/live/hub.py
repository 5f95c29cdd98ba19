"""Every live feed of this API process, by camera: created for the first viewer, gone
with the last, and all stopped when the server stops."""

from __future__ import annotations

import threading
from collections.abc import Callable

from spectare.live.feed import LiveFeed, LiveInput, Viewer, live_command
from spectare.logs import get_logger

log = get_logger(__name__)

#: Where a camera's stream is, by camera id; None when this API cannot reach it.
Sources = Callable[[str], LiveInput | None]


class NoSource(LookupError):
    """This API cannot stream the camera; the message says why."""


class LiveHub:
    """One ``LiveFeed`` per watched camera."""

    def __init__(self, sources: Sources, ffmpeg: str, rw_timeout_seconds: float) -> None:
        self.sources = sources
        self._ffmpeg = ffmpeg
        self._rw_timeout = rw_timeout_seconds
        self._feeds: dict[str, LiveFeed] = {}
        self._lock = threading.Lock()
        self._closed = False

    def watch(self, camera: str) -> tuple[LiveFeed, Viewer]:
        """Join the camera's feed, starting it if nobody watches yet.

        NoSource when the camera's stream is unknown; RuntimeError once the hub is closed.
        """
        while True:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the API is stopping")
                feed = self._feeds.get(camera)
                fresh = feed is None
                if feed is None:
                    source = self.sources(camera)
                    if source is None:
                        raise NoSource(
                            "this server does not know the camera's stream address and credentials"
                        )
                    command = live_command(self._ffmpeg, source, self._rw_timeout)
                    feed = LiveFeed(camera, command, self._forget)
                    self._feeds[camera] = feed
            if fresh:
                try:
                    feed.start()
                except OSError as exc:
                    self._forget(feed)
                    raise NoSource(f"{self._ffmpeg} cannot run here ({exc})") from None
            viewer = feed.join()
            if viewer is not None:
                return feed, viewer
            # It ended between the lookup and the join (its ffmpeg exited): start anew.
            self._forget(feed)

    def viewers(self) -> dict[str, int]:
        """How many viewers each running feed has."""
        with self._lock:
            return {camera: feed.viewer_count() for camera, feed in self._feeds.items()}

    def _forget(self, feed: LiveFeed) -> None:
        with self._lock:
            if self._feeds.get(feed.camera) is feed:
                del self._feeds[feed.camera]

    def close(self) -> None:
        """Stop every feed (server shutdown); later ``watch`` calls fail."""
        with self._lock:
            self._closed = True
            feeds = list(self._feeds.values())
        for feed in feeds:
            feed.close("the API is stopping")
        if feeds:
            log.info("live.all_stopped", feeds=len(feeds))
