"""A loopback TCP proxy that tests put between a client and a server to break the link.

``drop()`` closes every proxied connection at once (what a client sees when the
server restarts: its idle sockets are closed under it); ``freeze()`` stops
forwarding on the open connections, both ways, without closing them (a server that
stops answering, as under SIGSTOP: the kernel still acknowledges, nothing comes
back); ``thaw()`` resumes. New connections are accepted and forwarded while frozen
only if ``freeze(new_too=False)``.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from types import TracebackType


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target``; one thread for everything."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._frozen: set[socket.socket] = set()
        self._freeze_new = False
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._stopping = False
        self._pending: list[tuple[object, threading.Event]] = []
        self.accepted = 0
        self._thread = threading.Thread(target=self._loop, name="tcpproxy", daemon=True)
        self._thread.start()

    # -- control ------------------------------------------------------------------------

    def url(self, db: str) -> str:
        """A rethinkdb:// URL through this proxy."""
        return f"rethinkdb://127.0.0.1:{self.port}/{db}"

    def drop(self) -> None:
        """Close every proxied connection (both sides), as a server restart does."""
        self._call(self._drop)

    def freeze(self, new_too: bool = True) -> None:
        """Stop forwarding on the open connections (and new ones, if ``new_too``)."""
        self._call(lambda: self._freeze(new_too))

    def thaw(self) -> None:
        """Forward again."""
        self._call(self._thaw)

    def connections(self) -> int:
        """Client connections open now."""
        with self._lock:
            return len(self._pairs) // 2

    def close(self) -> None:
        """Stop the proxy and close everything."""
        if self._stopping:
            return
        self._call(self._drop)
        self._stopping = True
        self._wake()
        self._thread.join(10)
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()
        self._selector.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- the loop -----------------------------------------------------------------------

    def _call(self, action: object) -> None:
        """Run ``action`` on the proxy thread and wait for it (no race with forwarding)."""
        done = threading.Event()
        with self._lock:
            self._pending.append((action, done))
        self._wake()
        if not done.wait(10):
            raise TimeoutError("the proxy thread did not answer")

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _loop(self) -> None:
        while not self._stopping:
            for key, _ in self._selector.select(timeout=1.0):
                if key.data == "wake":
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(4096)
                    self._run_pending()
                elif key.fileobj is self._listener:
                    self._accept()
                else:
                    self._forward(key.fileobj)  # type: ignore[arg-type]
        self._run_pending()

    def _run_pending(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for action, done in pending:
            action()  # type: ignore[operator]
            done.set()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except OSError:
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        self.accepted += 1
        for sock in (client, upstream):
            sock.setblocking(False)
        with self._lock:
            self._pairs[client], self._pairs[upstream] = upstream, client
        if self._freeze_new:
            self._frozen.update((client, upstream))
        else:
            self._selector.register(client, selectors.EVENT_READ, None)
            self._selector.register(upstream, selectors.EVENT_READ, None)

    def _forward(self, sock: socket.socket) -> None:
        peer = self._pairs.get(sock)
        if peer is None:
            return
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_pair(sock)
            return
        try:
            peer.setblocking(True)
            peer.sendall(data)
            peer.setblocking(False)
        except OSError:
            self._close_pair(sock)

    def _close_pair(self, sock: socket.socket) -> None:
        with self._lock:
            peer = self._pairs.pop(sock, None)
            if peer is not None:
                self._pairs.pop(peer, None)
        for s in (sock, peer):
            if s is None:
                continue
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(s)
            self._frozen.discard(s)
            with contextlib.suppress(OSError):
                s.close()

    def _drop(self) -> None:
        for sock in list(self._pairs):
            self._close_pair(sock)

    def _freeze(self, new_too: bool) -> None:
        self._freeze_new = new_too
        for sock in list(self._pairs):
            if sock not in self._frozen:
                with contextlib.suppress(KeyError, ValueError):
                    self._selector.unregister(sock)
                self._frozen.add(sock)

    def _thaw(self) -> None:
        self._freeze_new = False
        for sock in list(self._frozen):
            if sock in self._pairs:
                self._selector.register(sock, selectors.EVENT_READ, None)
        self._frozen.clear()
