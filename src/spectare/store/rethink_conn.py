"""Connections to RethinkDB: where the server is, a small pool, and queries with a deadline.

The official synchronous driver has three gaps the store must close itself:

- A query waits for its answer without any deadline (the connect timeout covers only
  the connect), so a server that stops answering (SIGSTOP, a frozen VM) would hang
  the caller for ever. ``execute`` sends the query and reads the answer with the
  driver's own deadline-aware reader, so each call costs at most its deadline.
- ``is_open()`` stays True for a socket the server has closed (a restart): the next
  query then fails after it was "sent", and a write cannot tell whether it was
  applied. ``Pool.acquire`` peeks at an idle socket first and never hands out one
  whose peer has hung up; a failure while *sending* is reported as ``NotSent``, which
  is always safe to retry.
- Connections are not thread-safe. The pool gives each call a connection of its own,
  so one stuck call never blocks another thread: no lock is held across a query.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from rethinkdb import r
from rethinkdb.ast import DB
from rethinkdb.errors import (
    ReqlCursorEmpty,
    ReqlDriverError,
    ReqlError,
    ReqlOpFailedError,
    ReqlOpIndeterminateError,
)
from rethinkdb.net import DefaultCursor, Query, pQuery, pResponse

from spectare.logs import get_logger
from spectare.redact import mask_url, scrub
from spectare.store.base import StoreError

#: The driver is untyped: a connection is anything with ``_start``, ``is_open`` and
#: ``close`` (the test harness passes rethinkdb-mock's connection through here).
Connection = Any
#: A ReQL term (query or expression).
Term = Any

DEFAULT_PORT = 28015
DEFAULT_DB = "spectare"
#: Seconds to open a connection (the URL may override it with ``?timeout=``).
CONNECT_TIMEOUT = 10.0
#: Seconds a store call may take at most, retries included (Settings.store_deadline_seconds).
DEFAULT_DEADLINE = 10.0
#: Idle connections kept for reuse; more are opened when more threads query at once.
POOL_IDLE = 8

# A dead peer is noticed after about KEEPALIVE_IDLE + KEEPALIVE_COUNT * KEEPALIVE_INTERVAL
# seconds of silence on an idle connection; a query in flight has its own deadline.
KEEPALIVE_IDLE = 10
KEEPALIVE_INTERVAL = 5
KEEPALIVE_COUNT = 3
USER_TIMEOUT_MS = 30_000

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # what RethinkDB accepts as a database name


class NotSent(ReqlDriverError):  # type: ignore[misc]  # the driver is untyped
    """The connection failed before the query reached the server: repeating it is safe."""


@dataclass(frozen=True)
class RethinkTarget:
    """Where the store lives, parsed from ``rethinkdb://[user[:password]@]host[:port]/db``."""

    host: str
    port: int = DEFAULT_PORT
    db: str = DEFAULT_DB
    user: str = "admin"
    password: str | None = field(default=None, repr=False)
    timeout: float = CONNECT_TIMEOUT

    @classmethod
    def parse(cls, url: str) -> RethinkTarget:
        """The target named by ``url``; StoreError (password masked) when it is not valid."""
        shown = mask_url(url)
        try:
            parts = urlparse(url)
            port = parts.port or DEFAULT_PORT
            query = parse_qs(parts.query)
            timeout = float(query["timeout"][0]) if "timeout" in query else CONNECT_TIMEOUT
        except ValueError as exc:
            # ValueError texts name the bad port or number, never the password.
            raise StoreError(f"invalid store URL {shown}: {exc}") from None
        db = parts.path.strip("/") or DEFAULT_DB
        if parts.scheme != "rethinkdb" or not parts.hostname:
            raise StoreError(f"invalid store URL {shown}: use rethinkdb://host:28015/db")
        if not _NAME.match(db):
            raise StoreError(f"invalid database name {db!r} in {shown}: use A-Z, a-z, 0-9, _ and -")
        return cls(
            host=parts.hostname,
            port=port,
            db=db,
            user=unquote(parts.username) if parts.username else "admin",
            password=unquote(parts.password) if parts.password is not None else None,
            timeout=timeout,
        )

    def __str__(self) -> str:
        return f"{self.host}:{self.port}/{self.db}"


def open_connection(target: RethinkTarget, timeout: float | None = None) -> Connection:
    """A new driver connection to ``target`` (ReqlDriverError when it cannot be made)."""
    conn = r.connect(
        host=target.host,
        port=target.port,
        db=target.db,
        user=target.user,
        password=target.password,
        timeout=target.timeout if timeout is None else max(0.1, min(timeout, target.timeout)),
    )
    _detect_dead_peers(conn)
    return conn


def _socket_of(conn: Connection) -> socket.socket | None:
    """The driver connection's socket (a private attribute, hence the defensive lookup);
    None for anything else, such as the test harness's mock connections."""
    sock = getattr(getattr(getattr(conn, "_instance", None), "_socket", None), "_socket", None)
    return sock if isinstance(sock, socket.socket) else None


def _detect_dead_peers(conn: Connection) -> None:
    """Let the kernel fail an idle connection whose server vanished without closing it."""
    sock = _socket_of(conn)
    if sock is None:
        return
    options = [
        (socket.SOL_SOCKET, "SO_KEEPALIVE", 1),
        (socket.IPPROTO_TCP, "TCP_KEEPIDLE", KEEPALIVE_IDLE),
        (socket.IPPROTO_TCP, "TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
        (socket.IPPROTO_TCP, "TCP_KEEPCNT", KEEPALIVE_COUNT),
        (socket.IPPROTO_TCP, "TCP_USER_TIMEOUT", USER_TIMEOUT_MS),
    ]
    for level, name, value in options:
        if hasattr(socket, name):  # not every platform has every option
            with contextlib.suppress(OSError):  # best effort: keepalive is a safety net
                sock.setsockopt(level, getattr(socket, name), value)


def peer_hung_up(conn: Connection) -> bool:
    """True when an idle connection can no longer carry a query.

    Between queries nothing may arrive on a RethinkDB connection, so a readable socket
    means the server closed it (end of file or reset) or sent garbage: either way it is
    dead. This is the check the driver's ``is_open()`` does not make.
    """
    if not conn.is_open():
        return True
    sock = _socket_of(conn)
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):  # closed under us
        return True
    return bool(readable)


def execute(conn: Connection, term: Term, deadline: float) -> Any:
    """Run ``term`` on ``conn`` and read its whole result before ``deadline`` (monotonic).

    Raises NotSent when sending failed, ReqlTimeoutError when the answer did not come
    in time (the connection is then unusable), other ReqlErrors as the driver does.
    """
    instance: Any = getattr(conn, "_instance", None)
    wrapper: Any = getattr(instance, "_socket", None)
    if wrapper is None or not hasattr(wrapper, "recvall"):
        return _drain(term.run(conn))  # not the driver's connection: no deadline to apply
    conn.check_open()
    options = {"db": DB(conn.db)} if conn.db else {}
    query = Query(pQuery.START, conn._new_token(), term, options)
    payload = query.serialize(conn._get_json_encoder(query))
    try:
        wrapper.sendall(payload)
    except ReqlDriverError as exc:
        raise NotSent(str(getattr(exc, "message", exc))) from exc

    def wall(deadline: float) -> float:
        # The driver's reader takes wall-clock deadlines.
        return time.time() + max(0.0, deadline - time.monotonic())

    response = instance._read_response(query, wall(deadline))
    if response.type == pResponse.SUCCESS_ATOM:
        return response.data[0]
    if response.type in (pResponse.SUCCESS_PARTIAL, pResponse.SUCCESS_SEQUENCE):
        cursor = DefaultCursor(instance, query, response)
        items: list[Any] = []
        while True:
            try:
                items.append(cursor.next(wait=max(0.0, deadline - time.monotonic())))
            except ReqlCursorEmpty:
                return items
    if response.type == pResponse.WAIT_COMPLETE:
        return None
    raise response.make_error(query)


def _drain(result: Any) -> Any:
    """The whole result: a cursor (or the mock's generator) is read to its end."""
    if result is None or isinstance(result, (dict, list, str, int, float, bool)):
        return result
    return list(result)


def close_quietly(conn: Connection) -> None:
    """Close a connection that is being thrown away."""
    with contextlib.suppress(Exception):  # it is being thrown away
        conn.close(noreply_wait=False)


class Pool:
    """Connections handed out one per call, so that threads never wait on each other.

    Only the list of idle connections is locked, never a query. An idle connection
    whose server hung up is dropped at checkout, so a query is only ever sent on a
    connection that was alive a moment before.
    """

    def __init__(self, connect: Callable[[float], Connection], idle: int = POOL_IDLE) -> None:
        """``connect(timeout)`` opens a new connection."""
        self._connect = connect
        self._max_idle = idle
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, deadline: float) -> Connection:
        """A live connection (reused or new); ReqlDriverError when none can be made."""
        while True:
            with self._lock:
                if self._closed:
                    raise StoreError("the store is closed")
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._connect(max(0.1, deadline - time.monotonic()))
            if not peer_hung_up(conn):
                return conn
            close_quietly(conn)

    def release(self, conn: Connection) -> None:
        """Give back a connection that just answered a query completely."""
        with self._lock:
            if not self._closed and len(self._idle) < self._max_idle and conn.is_open():
                self._idle.append(conn)
                return
        close_quietly(conn)

    def discard(self, conn: Connection) -> None:
        """Throw away a connection that failed: it may be half-read, never reused."""
        close_quietly(conn)

    def clear(self) -> None:
        """Drop every idle connection (after a failure hints that all may be dead)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            close_quietly(conn)

    def close(self) -> None:
        """Close the idle connections; the ones in use are closed when given back."""
        with self._lock:
            self._closed = True
        self.clear()

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed


def message(exc: BaseException) -> str:
    """The text of a driver or server error."""
    return str(getattr(exc, "message", None) or exc)


#: Server errors that say the query was refused before it was applied, because a table
#: is not available yet (after a restart, tables become ready one by one).
_UNAVAILABLE = re.compile(r"not available|not ready|Cannot perform (read|write)", re.IGNORECASE)


def unavailable(exc: ReqlError) -> bool:
    """Whether ``exc`` is the server refusing a query for now, without applying it."""
    return isinstance(exc, ReqlOpFailedError) and bool(_UNAVAILABLE.search(message(exc)))


log = get_logger(__name__)

#: First pause before repeating a query the server refused for now; doubled each time.
RETRY_PAUSE = 0.05
RETRY_PAUSE_MAX = 1.0


class Runner:
    """Runs one store's queries: a connection per call, a deadline per call, and a retry
    only where it cannot apply a write twice."""

    def __init__(
        self, target: RethinkTarget, connect: Callable[[float], Connection], deadline: float
    ) -> None:
        self.target = target
        self.deadline = deadline
        self.pool = Pool(connect)

    def run(
        self,
        query: Term,
        *,
        repeatable: bool = True,
        exists_ok: bool = False,
        seconds: float | None = None,
    ) -> Any:
        """The whole result of ``query``; every failure becomes StoreError.

        Retried within the call's deadline (``seconds``, default the store's): a query
        that never reached the server (a connection that died before it was sent), one
        the server refused because a table is not available yet (nothing applied), and
        one whose connection died after sending if ``repeatable`` says a repeat is
        harmless. ``exists_ok`` accepts "already exists" (creating what is there).
        """
        budget = self.deadline if seconds is None else seconds
        end = time.monotonic() + budget
        pause = RETRY_PAUSE
        while True:
            try:
                conn = self.pool.acquire(end)
            except ReqlError as exc:
                raise StoreError(
                    f"cannot connect to RethinkDB at {self.target}: {scrub(message(exc))}"
                ) from exc
            try:
                result = execute(conn, query, end)
            except NotSent as exc:
                self._dead(conn, exc, "not_sent")  # never reached the server: repeat it
            except ReqlDriverError as exc:
                self._dead(conn, exc, "lost")
                if isinstance(exc, TimeoutError) or "Timed out" in message(exc):
                    raise StoreError(
                        f"RethinkDB at {self.target} did not answer within {budget:g} s"
                        + ("" if repeatable else "; a write may or may not have been applied")
                    ) from exc
                if not repeatable or time.monotonic() >= end:
                    unsure = "" if repeatable else "; a write may or may not have been applied"
                    raise StoreError(
                        f"lost the connection to RethinkDB at {self.target}: "
                        f"{scrub(message(exc))}{unsure}"
                    ) from exc
            except ReqlError as exc:
                self.pool.release(conn)  # the server answered: the connection is fine
                text = message(exc)
                if exists_ok and "already exists" in text:
                    return None
                maybe = isinstance(exc, ReqlOpIndeterminateError) and repeatable
                if not (unavailable(exc) or maybe) or time.monotonic() + pause >= end:
                    raise StoreError(f"RethinkDB at {self.target}: {scrub(text)}") from exc
                log.info("store.retry", store=str(self.target), reason=scrub(text))
                time.sleep(pause)  # the table becomes available by itself; back off
                pause = min(pause * 2, RETRY_PAUSE_MAX)
                continue
            else:
                self.pool.release(conn)
                return result
            if time.monotonic() >= end:
                raise StoreError(f"RethinkDB at {self.target} did not answer within {budget:g} s")

    def _dead(self, conn: Connection, exc: ReqlError, how: str) -> None:
        """Forget a connection that failed, and the idle ones, which likely share its fate
        (a server restart closes them all)."""
        self.pool.discard(conn)
        self.pool.clear()
        log.info("store.connection_lost", store=str(self.target), how=how,
                 error=scrub(message(exc)))  # fmt: skip

    def close(self) -> None:
        """Close every connection; later calls fail with StoreError."""
        self.pool.close()
