"""RethinkDB backends for the store contract tests: rethinkdb-mock, and a real server if named.

``backend_factory("rethinkdb-mock", opened)`` runs the store against rethinkdb-mock
0.10.1 in this process (``harness.rethink_mock``; what it is taught, quirk by quirk,
is in ``harness.rethink_fixes``).

``backend_factory("rethinkdb", opened)`` uses the server named by
``SPECTARE_TEST_RETHINKDB`` (``rethinkdb://127.0.0.1:28015``) with a fresh database
per test, which ``drop_database`` removes.

What the mock cannot show (many processes setting up at once, a server restarting
or hanging) is tested against a real server only, and nothing teaches the mock
those behaviours: ``harness.rethink_server.RethinkServer`` runs a server of a test's
own from ``SPECTARE_TEST_RETHINKDB_BIN`` (restart, SIGSTOP), and ``harness.tcpproxy``
sits between the store and any server to drop or freeze its connections.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from rethinkdb import r

from harness.rethink_mock import MOCK_URL, MockServer
from spectare.store import Store
from spectare.store.rethink import RethinkStore, open_connection


def fresh_database_url(base: str) -> str:
    """``base`` (a server URL) with a fresh database name, so tests never share data."""
    parts = urlsplit(base)
    path = f"/spectare_test_{uuid.uuid4().hex[:12]}"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def backend_factory(param: str, opened: list[Store]) -> Callable[[], Store]:
    """Makes stores sharing one database, each with its own connection, for ``param``."""
    if param == "rethinkdb-mock":
        server = MockServer()
        url, connect = MOCK_URL, server.connect
    elif param == "rethinkdb":
        url, connect = fresh_database_url(os.environ["SPECTARE_TEST_RETHINKDB"]), None
    else:
        raise ValueError(f"unknown RethinkDB backend {param!r}")

    def make() -> Store:
        store = RethinkStore(url, connect=connect)
        opened.append(store)
        return store

    return make


def drop_database(store: Store) -> None:
    """Remove a real server's test database (``store`` may already be closed)."""
    assert isinstance(store, RethinkStore)
    conn = open_connection(store.target)
    try:
        if store.target.db in r.db_list().run(conn):
            r.db_drop(store.target.db).run(conn)
    finally:
        conn.close(noreply_wait=False)
