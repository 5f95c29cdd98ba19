"""Serving the app with waitress: on a background thread (``spectare up``) or blocking."""

from __future__ import annotations

import signal
import threading
from typing import Any

from waitress import create_server, wasyncore

from spectare.api.app import create_app
from spectare.api.context import services
from spectare.api.streams import STREAM_SLOTS, streams_of
from spectare.errors import UserError, port_taken
from spectare.live.hub import Sources
from spectare.logs import get_logger
from spectare.settings import Settings
from spectare.store import Store

log = get_logger(__name__)

#: Request threads. Media files go out through waitress's async channel, not these
#: threads, so a few serve many players; live views and exports hold a thread each, so
#: they get STREAM_SLOTS of them and the rest is always left for short requests.
THREADS = STREAM_SLOTS + 8
#: Bytes a streamed response (live, export) may have waiting for a slow client before its
#: thread waits too: the backpressure reaches ffmpeg (export) or the viewer's queue, which
#: drops it (live). Waitress's default, 16 MiB, would spill to /tmp files per client.
OUTBUF_BYTES = 1024 * 1024
#: How long stopping waits for request threads and the loop.
STOP_SECONDS = 10.0


class ApiServer:
    """The API on ``settings.api_host:api_port`` (port 0: any free port, see ``port``).

    Stopping is safe in any order and from any thread: before ``start``, while serving,
    after the loop has ended, and more than once. Only the loop's own thread touches the
    sockets; ``stop`` sets an event and wakes the loop through its trigger, under a lock
    that guarantees the trigger is still open.
    """

    def __init__(
        self, settings: Settings, store: Store | None = None, live_sources: Sources | None = None
    ) -> None:
        self.settings = settings
        self.app = create_app(settings, store, live_sources)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._stopping = threading.Event()
        self._lock = threading.RLock()  # re-entrant: the SIGTERM handler takes it too
        self._closed = False

    @property
    def port(self) -> int:
        """The port bound (known once started)."""
        if self._port is None:
            raise RuntimeError("the API server is not started")
        return self._port

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return f"http://{self.settings.api_host}:{self.port}"

    def _bind(self) -> Any:
        with self._lock:
            if self._server is not None:
                raise RuntimeError("the API server is already started")
            # create_server binds and listens at once: connections queue from here on.
            self._server = create_server(
                self.app,
                host=self.settings.api_host,
                port=self.settings.api_port,
                threads=THREADS,
                outbuf_high_watermark=OUTBUF_BYTES,
                ident="spectare",
                clear_untrusted_proxy_headers=True,
            )
            self._port = int(self._server.effective_port)
            self._stopping.clear()
            self._closed = False
        log.info("api.listening", url=self.url, store=self.settings.store)
        return self._server

    def start(self) -> None:
        """Serve on a background thread; returns once the socket is listening."""
        server = self._bind()
        self._thread = threading.Thread(
            target=self._serve, args=(server,), name="spectare-api", daemon=True
        )
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve in this thread until SIGTERM or SIGINT."""
        server = self._bind()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: self._request_stop())
        self._serve(server)
        self._close_store()

    def _serve(self, server: Any) -> None:
        try:
            while not self._stopping.is_set():
                wasyncore.loop(
                    timeout=server.adj.asyncore_loop_timeout,
                    map=server._map,
                    use_poll=server.adj.asyncore_use_poll,
                    count=1,
                )
        except KeyboardInterrupt:
            pass
        finally:
            # Stop accepting, end live views and exports (their ffmpeg stops, their thread
            # returns), let request threads finish (or cancel what is queued), then close
            # every socket, the trigger last, with the lock that stop() pulls under.
            server.accepting = False
            streams_of(self.app).close()
            server.task_dispatcher.shutdown(cancel_pending=True, timeout=STOP_SECONDS)
            with self._lock:
                self._closed = True
                wasyncore.close_all(server._map)

    def _request_stop(self) -> None:
        with self._lock:
            if self._server is not None and not self._closed:
                self._stopping.set()
                self._server.trigger.pull_trigger()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Stop serving and close the store if this server opened it."""
        self._request_stop()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("api.stop_timeout", seconds=timeout)
        if self._server is not None:
            self._close_store()

    def _close_store(self) -> None:
        with self._lock:
            if self._server is None:
                return
            self._server = None
        services(self.app).stores.close()
        log.info("api.stopped")

    def __enter__(self) -> ApiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(settings: Settings) -> None:
    """Serve the API until SIGTERM or SIGINT (``spectare api``)."""
    try:
        ApiServer(settings).serve_forever()
    except OSError as exc:
        if port_taken(exc):
            raise UserError(
                f"port {settings.api_port} is taken by another program: set SPECTARE_API_PORT "
                "to another port"
            ) from exc
        raise
