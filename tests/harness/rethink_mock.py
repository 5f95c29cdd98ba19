"""rethinkdb-mock as a server the store can connect to, one query at a time.

``MockServer`` is one in-memory RethinkDB (taught the real server's behaviour by
``harness.rethink_fixes``); each ``connect()`` gives a ``MockConnection``, the
part of a driver connection the store uses, which a test can break the way a
dead socket breaks. Results go through JSON, as they would over the wire, so the
store never holds references into the mock's data.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from rethinkdb.errors import ReqlDriverError
from rethinkdb_mock import MockThink, rql_rewrite

from harness.rethink_fixes import teach_mock

MOCK_URL = "rethinkdb://mock:28015/spectare_test"


class MockServer:
    """One in-memory RethinkDB; every connection made from it sees the same data."""

    def __init__(self) -> None:
        teach_mock()
        self._think = MockThink({"dbs": {}})
        self._lock = threading.Lock()  # quirk 8: one query at a time
        self.connections: list[MockConnection] = []
        self.queries: list[Any] = []  # every query received, as the driver built it
        #: Called with each query after it ran (outside the lock, so it may run queries
        #: itself): lets a test slip another writer in between two of the store's queries.
        self.after_query: Callable[[Any], None] | None = None

    def connect(self) -> MockConnection:
        """A new connection (what ``r.connect`` returns for a real server)."""
        conn = MockConnection(self)
        self.connections.append(conn)
        return conn

    def execute(self, term: Any) -> Any:
        with self._lock:
            self.queries.append(term)
            result = self._think.run_query(rql_rewrite.rewrite_query(term))
            if result is not None and not isinstance(result, (dict, list, str, int, float)):
                result = list(result)  # the mock's lazy sequences
            return json.loads(json.dumps(result))


class MockConnection:
    """The part of a driver connection the store uses, with a way to break it."""

    def __init__(self, server: MockServer) -> None:
        self._server = server
        self._open = True
        self._fail: str | None = None

    def drop(self, after_apply: bool = False) -> None:
        """Break the connection the way a dead socket does: ``is_open`` stays true and
        the next query fails. ``after_apply`` lets that query reach the server first,
        as when the reply is what gets lost."""
        self._fail = "after" if after_apply else "before"

    def is_open(self) -> bool:
        return self._open

    def close(self, noreply_wait: bool = True) -> None:
        self._open = False

    def _start(self, term: Any, **global_optargs: Any) -> Any:
        """Run ``term`` (the driver's ``RqlQuery.run`` calls this)."""
        if not self._open:
            raise ReqlDriverError("Connection is closed.")
        fail, self._fail = self._fail, None
        if fail == "before":
            self._open = False
            raise ReqlDriverError("Connection is closed.")
        result = self._server.execute(term)
        if self._server.after_query is not None:
            self._server.after_query(term)
        if fail == "after":
            self._open = False
            raise ReqlDriverError("Connection is closed.")
        return result
