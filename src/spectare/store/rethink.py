"""The production store: RethinkDB 2.4, reached with the official synchronous driver.

Every operation is one query, or a few when RethinkDB has no multi-document
transaction to offer, and each write that must not race is a single atomic
read-modify-write of one document (``get(id).replace(function)``), which the
server applies atomically per document. Values of "now" come from the caller, so
write functions stay deterministic and never need ``non_atomic``.

Times are stored as plain floats (epoch seconds), as in the SQLite backend, so the
compound indexes sort them numerically.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from functools import partial
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from rethinkdb import r
from rethinkdb.errors import (
    ReqlAvailabilityError,
    ReqlDriverError,
    ReqlError,
    ReqlRuntimeError,
)

from spectare.redact import mask_url, register_secret, scrub
from spectare.store.base import Counter, Store, StoreError
from spectare.store.records import (
    MAX_SEGMENT_SECONDS,
    CameraInfo,
    CameraRecord,
    Event,
    Footage,
    Page,
    decode_cursor,
    encode_cursor,
)

#: The driver is untyped: a connection is anything with its ``_start``, ``is_open``
#: and ``close`` (the harness passes rethinkdb-mock's connection through here).
Connection = Any
#: A ReQL term (query or expression), e.g. the document inside a write function.
Term = Any
Doc = dict[str, Any]

DEFAULT_PORT = 28015
DEFAULT_DB = "spectare"
#: Seconds to open a connection (the URL may override it with ``?timeout=``).
CONNECT_TIMEOUT = 10.0
#: Seconds ``setup`` waits for new tables to accept writes.
READY_TIMEOUT = 60

# A dead peer is noticed after about KEEPALIVE_IDLE + KEEPALIVE_COUNT * KEEPALIVE_INTERVAL
# seconds of silence, and unacknowledged writes give up after USER_TIMEOUT_MS.
KEEPALIVE_IDLE = 10
KEEPALIVE_INTERVAL = 5
KEEPALIVE_COUNT = 3
USER_TIMEOUT_MS = 30_000

#: How often recomputing ``oldest_start`` retries when footage of that camera is
#: added or removed between its read and its write.
OLDEST_REFRESH_ATTEMPTS = 5

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # what RethinkDB accepts as a database name

_TABLES = ("cameras", "footage", "events")


def _footage_by_camera_start(row: Term) -> Term:
    # The id breaks ties so that (start, id) is a total order for the cursor.
    return [row["camera"], row["start"], row["id"]]


def _events_by_camera_start(row: Term) -> Term:
    return [row["camera"], row["start"]]


#: Secondary indexes per table: (name, function), None indexing the field of that name.
_INDEXES: dict[str, tuple[tuple[str, Callable[[Term], Term] | None], ...]] = {
    "footage": (("camera_start", _footage_by_camera_start),),
    "events": (
        ("camera_start", _events_by_camera_start),
        ("start", None),
        ("footage_id", None),
    ),
}

_CAMERA_FLOATS = ("grabbed_at", "heartbeat", "seconds", "oldest_start", "newest_end",
                  "last_segment_at")  # fmt: skip
_FOOTAGE_FLOATS = ("start", "end", "duration", "motion")
_EVENT_FLOATS = ("start", "end", "score")


# -- where the server is ----------------------------------------------------------------


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


def open_connection(target: RethinkTarget) -> Connection:
    """A new driver connection to ``target`` (ReqlDriverError when it cannot be made)."""
    conn = r.connect(
        host=target.host,
        port=target.port,
        db=target.db,
        user=target.user,
        password=target.password,
        timeout=target.timeout,
    )
    _detect_dead_peers(conn)
    return conn


def _detect_dead_peers(conn: Connection) -> None:
    """Bound how long a query can hang on a server that vanished without closing the socket.

    The synchronous driver's timeout covers connecting only; afterwards it waits for a
    reply without a deadline. TCP keepalive and TCP_USER_TIMEOUT make the kernel fail
    the socket instead, which the driver reports as a lost connection. The socket is a
    private attribute of the driver, hence the defensive lookup.
    """
    sock = getattr(getattr(getattr(conn, "_instance", None), "_socket", None), "_socket", None)
    if not isinstance(sock, socket.socket):
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


# -- documents ----------------------------------------------------------------------------


def _floats(values: Doc, names: Sequence[str]) -> Doc:
    """``values`` with ``names`` as floats: the server prints integral numbers without
    a fraction, which json reads back as int."""
    return {k: float(v) if k in names and v is not None else v for k, v in values.items()}


def _new_camera(camera: str) -> Doc:
    """A whole camera row with every field at its default; rows are only ever created
    whole, so write functions can read any field without ``default()``."""
    # footage_rev counts the writes that add or remove footage, so that recomputing
    # oldest_start can tell whether it raced one (see _refresh_oldest).
    return {**asdict(CameraRecord(id=camera, display_name=camera)), "footage_rev": 0}


def _camera(doc: Doc) -> CameraRecord:
    values = _floats({f.name: doc[f.name] for f in fields(CameraRecord) if f.name in doc},
                     _CAMERA_FLOATS)  # fmt: skip
    return CameraRecord(**values)


def _footage_doc(footage: Footage) -> Doc:
    return _floats(asdict(footage), _FOOTAGE_FLOATS)


def _footage(doc: Doc) -> Footage:
    return Footage(**_floats({f.name: doc.get(f.name) for f in fields(Footage)}, _FOOTAGE_FLOATS))


def _event(doc: Doc) -> Event:
    return Event(**_floats({f.name: doc[f.name] for f in fields(Event)}, _EVENT_FLOATS))


# -- ReQL expressions ---------------------------------------------------------------------
# Conditions that may meet null are written with r.branch, which evaluates lazily.


def _older_than(value: Term, cutoff: float) -> Term:
    """``value`` (a heartbeat) is missing or before ``cutoff``."""
    return r.branch(value.eq(None), True, value.lt(cutoff))


def _free_or_stale(row: Term, cutoff: float) -> Term:
    return row["worker"].eq(None) | _older_than(row["heartbeat"], cutoff)


def _least(value: Term, other: float) -> Term:
    return r.branch(value.eq(None), other, r.branch(value.lt(other), value, other))


def _greatest(value: Term, other: float) -> Term:
    return r.branch(value.eq(None), other, r.branch(value.gt(other), value, other))


def _at_least_zero(value: Term) -> Term:
    return r.branch(value.gt(0), value, 0)


def _key(prefix: list[Any], value: Any) -> Any:
    """An index key: ``value`` after the compound index's leading fields, if any."""
    return [*prefix, value] if prefix else value


def _start_range(start: float | None, end: float | None) -> tuple[Any, Any]:
    """Bounds [lo, hi) on ``start`` of rows that may overlap [start, end).

    A row overlapping ``start`` began at most MAX_SEGMENT_SECONDS before it; the exact
    condition (its end after ``start``) is filtered after the index scan.
    """
    lo = r.minval if start is None else start - MAX_SEGMENT_SECONDS
    hi = r.maxval if end is None else end
    return lo, hi


def _drain(result: Any) -> Any:
    """The whole result: a cursor (or the mock's generator) is read to its end."""
    if result is None or isinstance(result, (dict, list, str, int, float, bool)):
        return result
    return list(result)


def _message(exc: ReqlError) -> str:
    return str(getattr(exc, "message", None) or exc)


class RethinkStore(Store):
    """Store in a RethinkDB database; one lazily opened connection per object, shared by
    its threads under a lock (the driver's connections are not thread-safe)."""

    def __init__(self, url: str, connect: Callable[[], Connection] | None = None) -> None:
        """``connect`` makes a new connection (default: the driver, to ``url``); tests
        pass rethinkdb-mock's."""
        self.target = RethinkTarget.parse(url)
        # From now on the password is masked wherever it would be logged or shown.
        register_secret(self.target.password)
        self._connect = connect or partial(open_connection, self.target)
        self._conn: Connection | None = None
        self._closed = False
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"RethinkStore({self.target})"

    # -- running queries -----------------------------------------------------------------

    def _connection(self) -> Connection:
        """The open connection, (re)opened if needed; call with the lock held."""
        if self._closed:
            raise StoreError(f"RethinkDB store {self.target} is closed")
        if self._conn is None or not self._conn.is_open():
            self._discard()
            try:
                self._conn = self._connect()
            except ReqlError as exc:
                raise StoreError(
                    f"cannot connect to RethinkDB at {self.target}: {scrub(_message(exc))}"
                ) from exc
        return self._conn

    def _discard(self) -> None:
        """Forget the connection; a failed one may be half-read and is never reused."""
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(Exception):  # it is being thrown away
                    conn.close(noreply_wait=False)

    def _attempt(self, query: Term) -> Any:
        with self._lock:
            conn = self._connection()
            try:
                return _drain(query.run(conn))
            except ReqlDriverError:
                self._discard()
                raise

    def _run(self, query: Term, *, retry: bool = True, exists_ok: bool = False) -> Any:
        """The whole result of ``query``; every driver or server error becomes StoreError.

        When the connection drops (or the server reports the table unavailable) the
        query is sent once more on a new connection if ``retry`` says repeating it is
        harmless; otherwise the caller is told that a write may or may not have been
        applied. ``exists_ok`` accepts the "already exists" errors that two processes
        creating the same database, table or index at once run into.
        """
        for attempt in (1, 2):
            try:
                return self._attempt(query)
            except ReqlError as exc:
                if (
                    exists_ok
                    and isinstance(exc, ReqlRuntimeError)
                    and ("already exists" in _message(exc))
                ):
                    return None
                transient = isinstance(exc, (ReqlDriverError, ReqlAvailabilityError))
                if transient and retry and attempt == 1:
                    continue
                raise self._failure(exc, retry) from exc
        raise AssertionError("unreachable")

    def _failure(self, exc: ReqlError, repeatable: bool) -> StoreError:
        text = scrub(_message(exc))
        if isinstance(exc, ReqlDriverError):
            unsure = "" if repeatable else "; a write may or may not have been applied"
            return StoreError(f"lost the connection to RethinkDB at {self.target}: {text}{unsure}")
        return StoreError(f"RethinkDB at {self.target}: {text}")

    def _write(self, query: Term, *, retry: bool) -> Doc:
        """A write's summary, StoreError when the server reports an error in it."""
        result: Doc = self._run(query, retry=retry)
        if result.get("errors"):
            raise StoreError(f"RethinkDB at {self.target}: {scrub(str(result.get('first_error')))}")
        return result

    def _db(self) -> Term:
        return r.db(self.target.db)

    def _table(self, name: str) -> Term:
        # Always named with its database: the connection's default db is not relied on.
        return self._db().table(name)

    # -- shared query shapes -------------------------------------------------------------

    def _swap(
        self, camera: str, change: Callable[[Term], Term], *, create: bool, retry: bool
    ) -> tuple[Doc | None, Doc | None]:
        """One atomic read-modify-write of a camera's row; its (old, new) values.

        ``change(row)`` gives the new row (returning ``row`` leaves it unchanged). A
        missing row stays missing, or with ``create`` is made by applying ``change`` to
        a default row, in the same write.
        """
        missing = change(r.expr(_new_camera(camera))) if create else None
        query = (
            self._table("cameras")
            .get(camera)
            .replace(
                lambda row: r.branch(row.eq(None), missing, change(row)),
                return_changes="always",  # report the row even when the write left it alone
            )
        )
        changes = self._write(query, retry=retry).get("changes") or []
        if not changes:
            return None, None
        return changes[0].get("old_val"), changes[0].get("new_val")

    def _insert_once(self, table: str, doc: Doc, *, retry: bool) -> bool:
        """Insert ``doc``; False when its id is already there (the stored row is kept)."""
        result: Doc = self._run(self._table(table).insert(doc, conflict="error"), retry=retry)
        if result.get("inserted"):
            return True
        if "Duplicate primary key" in str(result.get("first_error", "")):
            return False
        raise StoreError(f"RethinkDB at {self.target}: {scrub(str(result.get('first_error')))}")

    def _overlapping(
        self,
        table: str,
        index: str,
        prefix: list[Any],
        start: float | None,
        end: float | None,
        descending: bool = False,
        after: tuple[float, str] | None = None,
    ) -> Term:
        """Rows overlapping the time range [start, end), in index order: ONE range scan of
        ``index``, whose keys are ``prefix`` followed by start (and, for footage, id).

        ``after`` is a (start, id) cursor position to continue past, in either
        direction; it is folded into the scan's bounds, not filtered.
        """
        lo, hi = _start_range(start, end)
        lower, upper, left_bound = _key(prefix, lo), _key(prefix, hi), "closed"
        # [*prefix, x] sorts before every [*prefix, x, id], so the bounds above include
        # start == lo and exclude start == hi whatever follows start in the key.
        if after is not None and not descending and (start is None or after[0] >= lo):
            lower, left_bound = [*prefix, *after], "open"
        if after is not None and descending and (end is None or after[0] < hi):
            upper = [*prefix, *after]
        query = (
            self._table(table)
            .between(lower, upper, index=index, left_bound=left_bound, right_bound="open")
            .order_by(index=r.desc(index) if descending else index)
        )
        if start is not None:
            query = query.filter(lambda row: row["end"] > start)
        return query

    # -- setup -----------------------------------------------------------------------------

    def setup(self) -> None:
        """Create what is missing; creation races with another process are harmless.

        Each step checks first (the usual case on restart costs no error) and accepts
        "already exists" from a concurrent creator.
        """
        if self.target.db not in self._run(r.db_list()):
            self._run(r.db_create(self.target.db), exists_ok=True)
        tables = set(self._run(self._db().table_list()))
        for table in _TABLES:
            if table not in tables:
                self._run(self._db().table_create(table, primary_key="id"), exists_ok=True)
        # table_create gives up waiting for readiness after 10 s on a busy cluster.
        self._run(self._db().wait(wait_for="ready_for_writes", timeout=READY_TIMEOUT))
        for table, indexes in _INDEXES.items():
            present = set(self._run(self._table(table).index_list()))
            for name, function in indexes:
                if name not in present:
                    args = (name,) if function is None else (name, function)
                    self._run(self._table(table).index_create(*args), exists_ok=True)
            self._run(self._table(table).index_wait())

    def ping(self) -> None:
        self._run(r.expr(1))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._discard()

    # -- cameras ---------------------------------------------------------------------------

    def upsert_camera(self, info: CameraInfo) -> None:
        spec = {k: v for k, v in asdict(info).items() if k != "id"}
        self._swap(info.id, lambda row: row.merge(spec), create=True, retry=True)

    def remove_camera(self, camera: str) -> None:
        self._write(self._table("cameras").get(camera).delete(), retry=True)

    def get_camera(self, camera: str) -> CameraRecord | None:
        doc = self._run(self._table("cameras").get(camera))
        return _camera(doc) if doc is not None else None

    def list_cameras(self) -> list[CameraRecord]:
        return [_camera(doc) for doc in self._run(self._table("cameras").order_by(index="id"))]

    def grab(self, camera: str, worker: str, now: float, stale_seconds: float) -> bool:
        cutoff = now - stale_seconds
        take = {"worker": worker, "heartbeat": now, "grabbed_at": now, "phase": "Starting",
                "message": None}  # fmt: skip

        def change(row: Term) -> Term:
            return r.branch(
                row["worker"].eq(worker),
                row.merge({"heartbeat": now}),  # already ours: keep grabbed_at and phase
                r.branch(_free_or_stale(row, cutoff), row.merge(take), row),
            )

        # Repeating a grab is harmless: the second one finds the camera already ours.
        _, new = self._swap(camera, change, create=True, retry=True)
        return new is not None and new.get("worker") == worker

    def heartbeat(
        self, camera: str, worker: str, now: float, phase: str, message: str | None = None
    ) -> bool:
        fresh = {"heartbeat": now, "phase": phase, "message": message}
        _, new = self._swap(
            camera,
            lambda row: r.branch(row["worker"].eq(worker), row.merge(fresh), row),
            create=False,
            retry=True,
        )
        return new is not None and new.get("worker") == worker

    def release(self, camera: str, worker: str | None = None) -> bool:
        def held(row: Term) -> Term:
            return row["worker"].ne(None) if worker is None else row["worker"].eq(worker)

        # Not retried: a repeat would find the camera free and report False.
        old, new = self._swap(
            camera,
            lambda row: r.branch(held(row), row.merge({"worker": None, "grabbed_at": None}), row),
            create=False,
            retry=False,
        )
        return _was_freed(old, new)

    def release_stale(self, now: float, stale_seconds: float) -> list[str]:
        cutoff = now - stale_seconds

        def stale(row: Term) -> Term:
            return row["worker"].ne(None) & _older_than(row["heartbeat"], cutoff)

        # The filter picks candidates; the update checks again inside its atomic write,
        # because a holder may heartbeat in between. Not retried: a repeat would free
        # nothing and lose the ids.
        query = (
            self._table("cameras")
            .filter(stale)
            .update(
                lambda row: r.branch(stale(row), {"worker": None, "grabbed_at": None}, {}),
                return_changes=True,
            )
        )
        changes = self._write(query, retry=False).get("changes") or []
        freed = [
            c["old_val"]["id"] for c in changes if _was_freed(c.get("old_val"), c.get("new_val"))
        ]
        return sorted(freed)

    def set_phase(self, camera: str, phase: str, message: str | None = None) -> None:
        self._swap(
            camera,
            lambda row: row.merge({"phase": phase, "message": message}),
            create=False,
            retry=True,
        )

    def bump(self, camera: str, counter: Counter, amount: int = 1) -> None:
        if counter not in ("restarts", "reconnects"):
            raise ValueError(f"unknown counter {counter!r}")
        # Relative to the row as the write finds it, so concurrent bumps all count.
        self._swap(
            camera,
            lambda row: row.merge({counter: row[counter] + amount}),
            create=False,
            retry=False,
        )

    # -- footage ---------------------------------------------------------------------------

    def add_footage(self, footage: Footage, now: float) -> bool:
        # Not retried: if the reply to an applied insert were lost, the repeat would see
        # a duplicate and the counters would never be updated.
        if not self._insert_once("footage", _footage_doc(footage), retry=False):
            return False

        def count(row: Term) -> Term:
            return row.merge(
                {
                    "segments": row["segments"] + 1,
                    "bytes": row["bytes"] + footage.bytes,
                    "seconds": row["seconds"] + float(footage.duration),
                    "oldest_start": _least(row["oldest_start"], float(footage.start)),
                    "newest_end": _greatest(row["newest_end"], float(footage.end)),
                    "last_segment_at": now,
                    "footage_rev": row["footage_rev"] + 1,
                }
            )

        # RethinkDB has no transaction spanning the two rows: the footage row goes in
        # first, so a failure here leaves footage that is indexed but not counted.
        self._swap(footage.camera, count, create=True, retry=False)
        return True

    def get_footage(self, footage_id: str) -> Footage | None:
        doc = self._run(self._table("footage").get(footage_id))
        return _footage(doc) if doc is not None else None

    def footage_range(
        self,
        camera: str,
        start: float | None = None,
        end: float | None = None,
        limit: int = 100,
        cursor: str | None = None,
        descending: bool = False,
    ) -> Page:
        after = decode_cursor(cursor) if cursor is not None else None
        query = self._overlapping(
            "footage", "camera_start", [camera], start, end, descending, after
        ).limit(limit + 1)  # one more than asked tells whether a next page exists
        rows = self._run(query)
        items = [_footage(doc) for doc in rows[:limit]]
        more = len(rows) > limit and bool(items)
        return Page(items, encode_cursor(items[-1]) if more else None)

    def delete_footage(self, ids: Sequence[str]) -> int:
        unique = list(dict.fromkeys(ids))
        if not unique:
            return 0
        # The changes say which rows THIS call removed: a concurrent delete of the same
        # ids must not make both callers uncount them.
        result = self._write(
            self._table("footage").get_all(*unique).delete(return_changes=True), retry=False
        )
        removed = [c["old_val"] for c in result.get("changes") or [] if c.get("old_val")]
        if not removed:
            return 0
        self._write(
            self._table("events").get_all(*[d["id"] for d in removed], index="footage_id").delete(),
            retry=True,
        )
        by_camera: dict[str, list[Doc]] = {}
        for doc in removed:
            by_camera.setdefault(doc["camera"], []).append(doc)
        for camera, docs in by_camera.items():
            self._uncount(camera, docs)
        return len(removed)

    def _uncount(self, camera: str, docs: list[Doc]) -> None:
        """Take removed segments off a camera's counters, then recompute oldest_start."""
        gone = len(docs)
        size = sum(int(d["bytes"]) for d in docs)
        seconds = sum(float(d["duration"]) for d in docs)

        def uncount(row: Term) -> Term:
            left = row["segments"] - gone
            return row.merge(
                {
                    "segments": left,
                    "bytes": row["bytes"] - size,
                    "seconds": _at_least_zero(row["seconds"] - seconds),
                    "newest_end": r.branch(left.le(0), None, row["newest_end"]),
                    "footage_rev": row["footage_rev"] + 1,
                }
            )

        self._swap(camera, uncount, create=False, retry=False)
        self._refresh_oldest(camera)

    def _oldest_start(self, camera: str) -> float | None:
        """The earliest start of a camera's footage: the first key of one index scan."""
        rows = self._run(
            self._overlapping("footage", "camera_start", [camera], None, None)
            .limit(1)
            .pluck("start")
        )
        return float(rows[0]["start"]) if rows else None

    def _refresh_oldest(self, camera: str) -> None:
        """Set oldest_start to what the index says, unless footage of the camera was
        added or removed between reading the index and writing the row.

        footage_rev is read before the index and compared inside the write: if it moved,
        the value read may be stale and the whole step is repeated. (An add that lands
        after the write is fine: it only ever lowers oldest_start, relative to the row.)
        """
        for _ in range(OLDEST_REFRESH_ATTEMPTS):
            current = self._run(self._table("cameras").get(camera))
            if current is None:
                return
            rev = current["footage_rev"]
            oldest = self._oldest_start(camera)
            old, _ = self._swap(camera, _set_unless_moved(rev, oldest), create=False, retry=True)
            if old is None or old["footage_rev"] == rev:
                return

    # -- events ----------------------------------------------------------------------------

    def add_event(self, event: Event) -> None:
        self._insert_once("events", _floats(asdict(event), _EVENT_FLOATS), retry=True)

    def list_events(
        self,
        camera: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 500,
    ) -> list[Event]:
        # Equal keys come out in primary-key order: the server appends the primary key
        # to every secondary index key, so this matches SQLite's ORDER BY start, id.
        if camera is None:
            query = self._overlapping("events", "start", [], start, end)
        else:
            query = self._overlapping("events", "camera_start", [camera], start, end)
        return [_event(doc) for doc in self._run(query.limit(limit))]


def _set_unless_moved(rev: int, oldest: float | None) -> Callable[[Term], Term]:
    """A row change setting oldest_start, only while footage_rev is still ``rev``."""
    return lambda row: r.branch(
        row["footage_rev"].eq(rev), row.merge({"oldest_start": oldest}), row
    )


def _was_freed(old: Doc | None, new: Doc | None) -> bool:
    """A write took the hold off a row that had one."""
    return (
        old is not None
        and old.get("worker") is not None
        and new is not None
        and new.get("worker") is None
    )
