"""The embedded store: one SQLite file in WAL mode, shared by the local processes."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from spectare.store.base import Counter, Store, StoreError
from spectare.store.mounts import network_filesystem
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

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cameras (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL DEFAULT '',
    enabled INTEGER NOT NULL DEFAULT 1,
    url TEXT NOT NULL DEFAULT '',
    segment_seconds INTEGER NOT NULL DEFAULT 300,
    worker TEXT,
    grabbed_at REAL,
    heartbeat REAL,
    phase TEXT NOT NULL DEFAULT 'Pending',
    message TEXT,
    restarts INTEGER NOT NULL DEFAULT 0,
    reconnects INTEGER NOT NULL DEFAULT 0,
    segments INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    seconds REAL NOT NULL DEFAULT 0,
    oldest_start REAL,
    newest_end REAL,
    last_segment_at REAL
);
CREATE TABLE IF NOT EXISTS footage (
    id TEXT PRIMARY KEY,
    camera TEXT NOT NULL,
    path TEXT NOT NULL,
    start REAL NOT NULL,
    "end" REAL NOT NULL,
    duration REAL NOT NULL,
    bytes INTEGER NOT NULL,
    container TEXT NOT NULL,
    codec TEXT,
    width INTEGER,
    height INTEGER,
    motion REAL,
    thumbnail TEXT
);
CREATE INDEX IF NOT EXISTS footage_camera_start ON footage (camera, start, id);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    camera TEXT NOT NULL,
    footage_id TEXT NOT NULL,
    start REAL NOT NULL,
    "end" REAL NOT NULL,
    score REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_camera_start ON events (camera, start);
CREATE INDEX IF NOT EXISTS events_start ON events (start);
"""

_CAMERA_FIELDS = [f.name for f in fields(CameraRecord)]
_FOOTAGE_FIELDS = [f.name for f in fields(Footage)]
_FOOTAGE_COLUMNS = ", ".join(f'"{name}"' for name in _FOOTAGE_FIELDS)


def _camera(row: sqlite3.Row) -> CameraRecord:
    values = dict(row)
    values["enabled"] = bool(values["enabled"])
    return CameraRecord(**{k: values[k] for k in _CAMERA_FIELDS})


def _footage(row: sqlite3.Row) -> Footage:
    return Footage(**{k: row[k] for k in _FOOTAGE_FIELDS})


class SQLiteStore(Store):
    """Store in a SQLite file; safe across threads and processes of one machine."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        remote = network_filesystem(self.path.parent)
        if remote:
            raise StoreError(
                f"the SQLite index {self.path} is on {remote}, where SQLite's locking is unsafe: "
                "keep it on a local disk, or use a rethinkdb:// store for several machines"
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open SQLite store at {self.path}: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout = 30000")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once so concurrent writers queue instead of failing."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite store {self.path}: {exc}") from exc

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite store {self.path}: {exc}") from exc

    def setup(self) -> None:
        with self._tx() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def ping(self) -> None:
        self._query("SELECT 1")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- cameras ---------------------------------------------------------------------------

    def upsert_camera(self, info: CameraInfo) -> None:
        values = asdict(info)
        with self._tx() as db:
            db.execute(
                "INSERT INTO cameras (id, display_name, enabled, url, segment_seconds) "
                "VALUES (:id, :display_name, :enabled, :url, :segment_seconds) "
                "ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, "
                "enabled = excluded.enabled, url = excluded.url, "
                "segment_seconds = excluded.segment_seconds",
                values,
            )

    def remove_camera(self, camera: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM cameras WHERE id = ?", (camera,))

    def get_camera(self, camera: str) -> CameraRecord | None:
        rows = self._query("SELECT * FROM cameras WHERE id = ?", (camera,))
        return _camera(rows[0]) if rows else None

    def list_cameras(self) -> list[CameraRecord]:
        return [_camera(row) for row in self._query("SELECT * FROM cameras ORDER BY id")]

    def grab(self, camera: str, worker: str, now: float, stale_seconds: float) -> bool:
        with self._tx() as db:
            db.execute(
                "INSERT INTO cameras (id, display_name) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                (camera, camera),
            )
            cursor = db.execute(
                "UPDATE cameras SET worker = :worker, heartbeat = :now, "
                "grabbed_at = CASE WHEN worker IS :worker THEN grabbed_at ELSE :now END, "
                "phase = CASE WHEN worker IS :worker THEN phase ELSE 'Starting' END, "
                "message = CASE WHEN worker IS :worker THEN message ELSE NULL END "
                "WHERE id = :camera AND (worker IS NULL OR worker = :worker "
                "OR heartbeat IS NULL OR heartbeat < :stale)",
                {"worker": worker, "now": now, "camera": camera, "stale": now - stale_seconds},
            )
            return cursor.rowcount == 1

    def heartbeat(
        self, camera: str, worker: str, now: float, phase: str, message: str | None = None
    ) -> bool:
        with self._tx() as db:
            cursor = db.execute(
                "UPDATE cameras SET heartbeat = ?, phase = ?, message = ? "
                "WHERE id = ? AND worker = ?",
                (now, phase, message, camera, worker),
            )
            return cursor.rowcount == 1

    def release(self, camera: str, worker: str | None = None) -> bool:
        sql = (
            "UPDATE cameras SET worker = NULL, grabbed_at = NULL "
            "WHERE id = ? AND worker IS NOT NULL"
        )
        params: tuple[str, ...] = (camera,)
        if worker is not None:
            sql += " AND worker = ?"
            params = (camera, worker)
        with self._tx() as db:
            return db.execute(sql, params).rowcount == 1

    def release_stale(self, now: float, stale_seconds: float) -> list[str]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT id FROM cameras WHERE worker IS NOT NULL "
                "AND (heartbeat IS NULL OR heartbeat < ?)",
                (now - stale_seconds,),
            ).fetchall()
            ids = [row["id"] for row in rows]
            db.executemany(
                "UPDATE cameras SET worker = NULL, grabbed_at = NULL WHERE id = ?",
                [(i,) for i in ids],
            )
            return ids

    def set_phase(self, camera: str, phase: str, message: str | None = None) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE cameras SET phase = ?, message = ? WHERE id = ?", (phase, message, camera)
            )

    def bump(self, camera: str, counter: Counter, amount: int = 1) -> None:
        if counter not in ("restarts", "reconnects"):
            raise ValueError(f"unknown counter {counter!r}")
        with self._tx() as db:
            db.execute(
                f"UPDATE cameras SET {counter} = {counter} + ? WHERE id = ?", (amount, camera)
            )

    # -- footage ---------------------------------------------------------------------------

    def add_footage(self, footage: Footage, now: float) -> bool:
        values = asdict(footage)
        placeholders = ", ".join(f":{name}" for name in _FOOTAGE_FIELDS)
        with self._tx() as db:
            inserted = db.execute(
                f"INSERT INTO footage ({_FOOTAGE_COLUMNS}) VALUES ({placeholders}) "
                "ON CONFLICT (id) DO NOTHING",
                values,
            ).rowcount
            if not inserted:
                return False
            db.execute(
                "INSERT INTO cameras (id, display_name) VALUES (?, ?) ON CONFLICT (id) DO NOTHING",
                (footage.camera, footage.camera),
            )
            db.execute(
                "UPDATE cameras SET segments = segments + 1, bytes = bytes + :bytes, "
                "seconds = seconds + :duration, "
                "oldest_start = min(coalesce(oldest_start, :start), :start), "
                "newest_end = max(coalesce(newest_end, :end), :end), last_segment_at = :now "
                "WHERE id = :camera",
                {**values, "now": now},
            )
            return True

    def get_footage(self, footage_id: str) -> Footage | None:
        rows = self._query(f"SELECT {_FOOTAGE_COLUMNS} FROM footage WHERE id = ?", (footage_id,))
        return _footage(rows[0]) if rows else None

    def footage_range(
        self,
        camera: str,
        start: float | None = None,
        end: float | None = None,
        limit: int = 100,
        cursor: str | None = None,
        descending: bool = False,
    ) -> Page:
        where = ["camera = ?"]
        params: list[Any] = [camera]
        if start is not None:
            where.append('start >= ? AND "end" > ?')
            params += [start - MAX_SEGMENT_SECONDS, start]
        if end is not None:
            where.append("start < ?")
            params.append(end)
        if cursor is not None:
            after_start, after_id = decode_cursor(cursor)
            op = "<" if descending else ">"
            where.append(f"(start, id) {op} (?, ?)")
            params += [after_start, after_id]
        order = "DESC" if descending else "ASC"
        rows = self._query(
            f"SELECT {_FOOTAGE_COLUMNS} FROM footage WHERE {' AND '.join(where)} "
            f"ORDER BY start {order}, id {order} LIMIT ?",
            [*params, limit + 1],
        )
        items = [_footage(row) for row in rows[:limit]]
        return Page(items, encode_cursor(items[-1]) if len(rows) > limit else None)

    def delete_footage(self, ids: Sequence[str]) -> int:
        dropped = 0
        with self._tx() as db:
            for footage_id in ids:
                row = db.execute(
                    "SELECT camera, bytes, duration FROM footage WHERE id = ?", (footage_id,)
                ).fetchone()
                if row is None:
                    continue
                db.execute("DELETE FROM footage WHERE id = ?", (footage_id,))
                db.execute("DELETE FROM events WHERE footage_id = ?", (footage_id,))
                db.execute(
                    "UPDATE cameras SET segments = segments - 1, bytes = bytes - ?, "
                    "seconds = max(0, seconds - ?), oldest_start = (SELECT min(start) "
                    "FROM footage WHERE camera = cameras.id), newest_end = CASE WHEN "
                    "segments - 1 = 0 THEN NULL ELSE newest_end END WHERE id = ?",
                    (row["bytes"], row["duration"], row["camera"]),
                )
                dropped += 1
        return dropped

    # -- events ----------------------------------------------------------------------------

    def add_event(self, event: Event) -> None:
        with self._tx() as db:
            db.execute(
                'INSERT INTO events (id, camera, footage_id, start, "end", score) '
                "VALUES (:id, :camera, :footage_id, :start, :end, :score) "
                "ON CONFLICT (id) DO NOTHING",
                asdict(event),
            )

    def list_events(
        self,
        camera: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 500,
    ) -> list[Event]:
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if camera is not None:
            where.append("camera = ?")
            params.append(camera)
        if start is not None:
            where.append('start >= ? AND "end" > ?')
            params += [start - MAX_SEGMENT_SECONDS, start]
        if end is not None:
            where.append("start < ?")
            params.append(end)
        rows = self._query(
            f'SELECT id, camera, footage_id, start, "end", score FROM events '
            f"WHERE {' AND '.join(where)} ORDER BY start, id LIMIT ?",
            [*params, limit],
        )
        return [Event(**dict(row)) for row in rows]
