"""The worker's live relay: its camera live, over HTTP, for the API.

On Kubernetes the worker pod alone has the camera's credentials (the kubelet resolves
its Secret), so the API asks the worker. A request joins the worker's live feed: one
``ffmpeg -c copy`` from the camera, a second session beside the recording that runs
only while someone watches (the recording ffmpeg gets no extra output), shared by
every request. The relay listens on ``live_relay_host`` (loopback unless the image
says otherwise), announces itself beside the footage, and wants the announced token.

It speaks just enough HTTP/1.0 for that one GET itself: ``http.server`` imports
``http.client``, which imports ``ssl`` (~5 MB in every worker process for nothing);
for the same reason its token comes from ``os.urandom``, not ``secrets``, whose
``hmac`` loads OpenSSL's libcrypto (~4 MB).
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import socketserver
import threading
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
#: Longest request or header line read, and most header lines: a request is one GET.
MAX_LINE = 8192
MAX_HEADERS = 64
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def same_token(given: str, token: str) -> bool:
    """Whether ``given`` is ``token``, in a time that does not tell how much matched."""
    a, b = given.encode(), token.encode()
    difference = len(a) ^ len(b)
    for x, y in zip(a, b.ljust(len(a), b"\0")[: len(a)], strict=True):
        difference |= x ^ y
    return difference == 0


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
        self.token = base64.urlsafe_b64encode(os.urandom(24)).rstrip(b"=").decode()
        self.path = announcement_path(root, camera)
        self._server = _Server((host, 0), _handler(self))
        port = self._server.server_address[1]
        self.url = f"http://{advertised_host(host)}:{port}/live"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="live-relay", daemon=True)

    def start(self) -> None:
        """Serve, then announce."""
        self._thread.start()
        announce(self.path, Announcement(self.url, self.token, self.worker))
        log.info("relay.listening", camera=self.camera, url=self.url)

    def _serve(self) -> None:
        # Blocked in accept until a request comes: serve_forever wakes twice a second to
        # look for a shutdown, which was half of an idle worker's CPU (measured).
        while not self._stopping.is_set():
            self._server.handle_request()

    def stop(self) -> None:
        """Withdraw the announcement, stop the live feed and the server."""
        withdraw(self.path, self.worker)
        self.hub.close()
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._server.socket.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._server.server_close()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _handler(relay: LiveRelay) -> type[socketserver.StreamRequestHandler]:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            try:
                request = self._request()
            except (OSError, ValueError):
                return  # a broken request or a client gone: nothing to answer
            if request is None:
                self._reply(400, "bad request")
                return
            method, path, headers = request
            log.debug("relay.request", method=method, path=path)
            if method != "GET":
                self._reply(405, "only GET")
                return
            given = headers.get("authorization", "").removeprefix("Bearer ").strip()
            if path != "/live" or not same_token(given, relay.token):
                self._reply(404 if path != "/live" else 401, "no such stream")
                return
            try:
                feed, viewer = relay.hub.watch(relay.camera)
            except (NoSource, RuntimeError) as exc:
                self._reply(503, str(exc))
                return
            try:
                if not feed.ready.wait(START_SECONDS) or feed.init is None:
                    self._reply(502, feed.error or "the camera sent no video in time")
                    return
                codec = feed.codec or "avc1"
                self._head(200, f'video/mp4; codecs="{codec}"')
                self.wfile.write(feed.init)
                while (fragment := viewer.next(IDLE_SECONDS)) is not None:
                    self.wfile.write(fragment)
            except OSError:
                pass  # the API went away
            finally:
                feed.leave(viewer)

        def _request(self) -> tuple[str, str, dict[str, str]] | None:
            """(method, path, headers with lower-case names); None when malformed."""
            parts = self.rfile.readline(MAX_LINE + 1).decode("latin-1").split()
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                return None
            headers: dict[str, str] = {}
            for _ in range(MAX_HEADERS):
                line = self.rfile.readline(MAX_LINE + 1).decode("latin-1")
                if line in ("\r\n", "\n", ""):
                    return parts[0], parts[1], headers
                name, colon, value = line.partition(":")
                if not colon:
                    return None
                headers[name.strip().lower()] = value.strip()
            return None

        def _head(self, status: int, content_type: str) -> None:
            # HTTP/1.0 and no length: the stream ends with the connection.
            self.wfile.write(
                f"HTTP/1.0 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
            )

        def _reply(self, status: int, message: str) -> None:
            try:
                self._head(status, "text/plain; charset=utf-8")
                self.wfile.write(message.encode())
            except OSError:
                pass  # the client went away

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
