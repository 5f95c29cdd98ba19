"""Backends under the store contract: SQLite, rethinkdb-mock, and a real RethinkDB if named."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spectare.store import Store
from spectare.store.sqlite import SQLiteStore

BACKENDS = ["sqlite", "rethinkdb-mock"]
if os.environ.get("SPECTARE_TEST_RETHINKDB"):
    BACKENDS.append("rethinkdb")


@pytest.fixture(params=BACKENDS)
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Store]]:
    """Makes stores that share one database, each with its own connection."""
    opened: list[Store] = []
    if request.param == "sqlite":

        def make() -> Store:
            store = SQLiteStore(tmp_path / "spectare.db")
            opened.append(store)
            return store

    else:
        from harness.rethink import backend_factory

        make = backend_factory(request.param, opened)
    first = make()
    first.setup()
    yield make
    for store in opened:
        with contextlib.suppress(Exception):
            store.close()
    if request.param == "rethinkdb":
        from harness.rethink import drop_database

        drop_database(first)


@pytest.fixture
def store(store_factory: Callable[[], Store]) -> Store:
    """A set-up, empty store of each backend."""
    return store_factory()


# -- a real RethinkDB, for what the mock cannot show -----------------------------------------

REAL_REASON = (
    "needs a real RethinkDB 2.4: set SPECTARE_TEST_RETHINKDB=rethinkdb://127.0.0.1:28015 "
    "(the mock cannot reproduce concurrency, restarts or hangs)"
)
BIN_REASON = (
    "needs a rethinkdb binary to restart a server of the test's own: set "
    "SPECTARE_TEST_RETHINKDB_BIN=/path/to/rethinkdb"
)


@pytest.fixture
def real_rethink() -> Iterator[str]:
    """URL of a fresh database on the real server; the database is dropped afterwards."""
    from harness.rethink import fresh_database_url
    from harness.rethink_server import real_server_url

    base = real_server_url()
    if base is None:
        pytest.skip(REAL_REASON)
    url = fresh_database_url(base)
    yield url
    _drop_databases(url)


def _drop_databases(url: str) -> None:
    """Drop the test's database and any set-up lock or leftovers named after it."""
    from rethinkdb import r

    from spectare.store.rethink import RethinkTarget, open_connection

    target = RethinkTarget.parse(url)
    conn = open_connection(target)
    try:
        for name in r.db_list().run(conn):
            if name.startswith(target.db):
                with contextlib.suppress(Exception):
                    r.db_drop(name).run(conn)
    finally:
        conn.close(noreply_wait=False)


@pytest.fixture
def own_rethink(tmp_path: Path) -> Iterator[object]:
    """A RethinkDB server of the test's own (restartable), stopped afterwards."""
    from harness.rethink_server import BIN_ENV, RethinkServer

    binary = os.environ.get(BIN_ENV)
    if not binary:
        pytest.skip(BIN_REASON)
    server = RethinkServer(binary, tmp_path / "rethinkdb-data")
    server.start()
    try:
        yield server
    finally:
        server.stop()
