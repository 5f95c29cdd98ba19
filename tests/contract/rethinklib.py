"""Helpers of the tests against a real RethinkDB server: segments, system tables, children."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from rethinkdb import r

from spectare.ids import uuid7_at
from spectare.store import Footage, rethink_schema
from spectare.store.rethink import RethinkTarget, open_connection
from spectare.store.rethink_schema import INDEXES, TABLES

T0 = 1_800_000_000.0


def all_at_once(calls: list[Callable[[], None]]) -> None:
    """Run ``calls`` in threads started together; return when all have ended."""
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def segment(camera: str, start: float, size: int = 100) -> Footage:
    ident = str(uuid7_at(start))
    return Footage(ident, camera, f"{camera}/{ident}.mp4", start, start + 10, 10.0, size, "mp4")


def system(url: str, table: str) -> list[dict[str, Any]]:
    """Rows of a system table about the URL's database."""
    target = RethinkTarget.parse(url)
    conn = open_connection(target)
    try:
        rows = r.db("rethinkdb").table(table).run(conn)
        return [row for row in rows if row.get("db", row.get("name")) == target.db]
    finally:
        conn.close()


def assert_one_schema(url: str) -> None:
    """Exactly one database, one of each table, every index, all tables ready."""
    target = RethinkTarget.parse(url)
    dbs = [row for row in system(url, "db_config") if row["name"] == target.db]
    assert len(dbs) == 1, dbs
    tables = Counter(row["name"] for row in system(url, "table_config"))
    assert tables == Counter(TABLES), tables
    conn = open_connection(target)
    try:
        for table, indexes in INDEXES.items():
            present = set(r.db(target.db).table(table).index_list().run(conn))
            assert {name for name, _ in indexes} <= present
        statuses = system(url, "table_status")
        assert all(s["status"]["ready_for_writes"] for s in statuses), statuses
        lock = target.db + rethink_schema.LOCK_SUFFIX
        assert lock not in r.db_list().run(conn)
    finally:
        conn.close()


def python(code: str, *args: str) -> subprocess.Popen[str]:
    """A Python child running ``code`` with ``args`` in sys.argv."""
    return subprocess.Popen(
        [sys.executable, "-P", "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
