"""Serving the app with waitress: on a background thread (``spectare up``) or blocking."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from waitress import create_server, wasyncore

from spectare.api.app import create_app
from spectare.api.context import services
from spectare.logs import get_logger
from spectare.settings import Settings
from spectare.store import Store

log = get_logger(__name__)

#: Request threads. Media goes out through waitress's async channel, not these threads,
#: so a few serve many players; the rest is short store reads.
THREADS = 8


class ApiServer:
    """The API on ``settings.api_host:api_port`` (port 0: any free port, see ``port``)."""

    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        self.app = create_app(settings, store)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

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
        # create_server binds and listens at once: connections queue from here on.
        server = self._server = create_server(
            self.app,
            host=self.settings.api_host,
            port=self.settings.api_port,
            threads=THREADS,
            ident="spectare",
            clear_untrusted_proxy_headers=True,
        )
        self._port = int(self._server.effective_port)
        log.info("api.listening", url=self.url, store=self.settings.store)
        return server

    def start(self) -> None:
        """Serve on a background thread; returns once the socket is listening."""
        if self._server is not None:
            raise RuntimeError("the API server is already started")
        server = self._bind()
        self._thread = threading.Thread(target=server.run, name="spectare-api", daemon=True)
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve in this thread until SIGTERM or SIGINT."""
        server = self._bind()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _exit)
        try:
            server.run()  # returns on SystemExit/KeyboardInterrupt, after shutting down
        finally:
            self._close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and close the store if this server opened it."""
        server, thread = self._server, self._thread
        if server is None:
            return
        # Close the sockets from inside the server's own loop (its trigger runs thunks
        # there); the loop ends when no socket is left.
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("api.stop_timeout", seconds=timeout)
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
        self._close()
        self._server = self._thread = None

    def _close(self) -> None:
        services(self.app).stores.close()
        log.info("api.stopped")

    def __enter__(self) -> ApiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _exit(signum: int, frame: FrameType | None) -> None:
    # waitress's run() turns SystemExit into an orderly shutdown.
    raise SystemExit(0)


def serve(settings: Settings) -> None:
    """Serve the API until SIGTERM or SIGINT (``spectare api``)."""
    ApiServer(settings).serve_forever()
