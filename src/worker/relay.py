"""The worker's live relay: its camera live, over HTTP, for the API.

On Kubernetes the worker pod alone has the camera's credentials (the kubelet resolves
its Secret), so the API asks the worker. A request joins the worker's live feed: one
``ffmpeg -c copy`` from the camera, a second session beside the recording that runs
only while someone watches (the recording ffmpeg gets no extra output), shared by
every request. The relay listens on ``live_relay_host`` (loopback unless the image
says otherwise), announces itself beside the footage, and wants the announced token.
"""

from __future__ import annotations

import hmac
import secrets
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from spectare.live.announce import Announcement, announce, announcement_path, withdraw
from spectare.live.feed import LiveInput
from spectare.live.hub import LiveHub, NoSource
from spectare.logs import get_logger
from spectare.settings import Settings

log = get_logger(__name__)

#: How long a request waits for the camera's first picture.
START_SECONDS = 15.0
#: A request with no new fragment for this long ends (the API reconnects).
IDLE_SECONDS = 20.0


def advertised_host(bound: str) -> str:
    """The address others reach this relay at: the pod's own when bound to every one."""
    if bound in ("", "0.0.0.0", "::"):
        return socket.gethostbyname(socket.gethostname())
    return bound


class LiveRelay:
    """The HTTP server of one worker's camera, announced under the footage root."""

    def __init__(self, root: Path, camera: str, host: str, worker: str, hub: LiveHub) -> None:
        self.camera = camera
        self.worker = worker
        self.hub = hub
        self.token = secrets.token_urlsafe(24)
        self.path = announcement_path(root, camera)
        self._server = ThreadingHTTPServer((host, 0), _handler(self))
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.url = f"http://{advertised_host(host)}:{port}/live"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="live-relay", daemon=True
        )

    def start(self) -> None:
        """Serve, then announce."""
        self._thread.start()
        announce(self.path, Announcement(self.url, self.token, self.worker))
        log.info("relay.listening", camera=self.camera, url=self.url)

    def stop(self) -> None:
        """Withdraw the announcement, stop the live feed and the server."""
        withdraw(self.path, self.worker)
        self.hub.close()
        self._server.shutdown()
        self._server.server_close()


def _handler(relay: LiveRelay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the stream ends with the connection

        def do_GET(self) -> None:
            given = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if self.path != "/live" or not hmac.compare_digest(given, relay.token):
                self.send_error(404 if self.path != "/live" else 401)
                return
            try:
                feed, viewer = relay.hub.watch(relay.camera)
            except (NoSource, RuntimeError) as exc:
                self.send_error(503, str(exc))
                return
            try:
                if not feed.ready.wait(START_SECONDS) or feed.init is None:
                    self.send_error(502, feed.error or "the camera sent no video in time")
                    return
                self.send_response(200)
                self.send_header("Content-Type", f'video/mp4; codecs="{feed.codec or "avc1"}"')
                self.end_headers()
                self.wfile.write(feed.init)
                while (fragment := viewer.next(IDLE_SECONDS)) is not None:
                    self.wfile.write(fragment)
            except OSError:
                pass  # the API went away
            finally:
                feed.leave(viewer)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("relay.request", line=format % args)

    return Handler


def start_relay(root: Path, camera: str, source: LiveInput, settings: Settings) -> LiveRelay | None:
    """The camera's relay, started; None when turned off (``live_relay_host`` empty) or
    when it cannot listen, which must not stop the recording."""
    if not settings.live_relay_host:
        return None
    hub = LiveHub(lambda _: source, settings.ffmpeg, settings.rw_timeout_seconds)
    try:
        relay = LiveRelay(root, camera, settings.live_relay_host, settings.worker_id, hub)
    except OSError as exc:
        log.warning("relay.failed", camera=camera, error=str(exc))
        return None
    try:
        relay.start()
    except OSError as exc:
        log.warning("relay.failed", camera=camera, error=str(exc))
        relay.stop()
        return None
    return relay
