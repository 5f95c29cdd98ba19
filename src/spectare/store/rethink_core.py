"""The RethinkDB store's core: its connection runner and the query shapes every write uses.

``RethinkStore`` (``rethink``) is built on this in two layers: footage and events
(``rethink_footage``), then cameras.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from rethinkdb import r

from spectare.redact import register_secret, scrub
from spectare.store.base import Store, StoreError
from spectare.store.rethink_conn import (
    DEFAULT_DEADLINE,
    Connection,
    RethinkTarget,
    Runner,
    open_connection,
)
from spectare.store.rethink_query import Doc, Term, new_camera
from spectare.store.rethink_schema import Schema


class RethinkCore(Store):
    """Store in a RethinkDB database. Each call takes a connection of its own from a
    small pool, so threads never wait for each other, and costs at most ``deadline``
    seconds, retries included."""

    def __init__(
        self,
        url: str,
        connect: Callable[[], Connection] | None = None,
        deadline: float = DEFAULT_DEADLINE,
    ) -> None:
        """``connect`` makes a new connection (default: the driver, to ``url``); tests
        pass rethinkdb-mock's. ``deadline`` bounds every call, in seconds."""
        self.target = RethinkTarget.parse(url)
        # From now on the password is masked wherever it would be logged or shown.
        register_secret(self.target.password)
        opener: Callable[[float], Connection] = (
            partial(open_connection, self.target) if connect is None else (lambda _t: connect())
        )
        self._runner = Runner(self.target, opener, deadline)
        self.schema = Schema(self._runner, self.target.db)

    def __repr__(self) -> str:
        return f"RethinkStore({self.target})"

    # -- running queries -----------------------------------------------------------------

    def _run(self, query: Term, *, retry: bool = True) -> Any:
        """The whole result of ``query`` (StoreError on failure); ``retry`` says whether
        sending it again after a lost reply is harmless."""
        return self._runner.run(query, repeatable=retry)

    def _rows(self, query: Term) -> list[Doc]:
        """The rows a sequence query selects, in ONE answer: a stream would come back in
        many small batches, each a round trip (a page of 100 took about 140)."""
        return list(self._run(query.coerce_to("array")))

    def _write(self, query: Term, *, retry: bool) -> Doc:
        """A write's summary, StoreError when the server reports an error in it."""
        result: Doc = self._run(query, retry=retry)
        if result.get("errors"):
            raise StoreError(f"RethinkDB at {self.target}: {scrub(str(result.get('first_error')))}")
        return result

    def _table(self, name: str) -> Term:
        # Always named with its database: the connection's default db is not relied on.
        return r.db(self.target.db).table(name)

    def _swap(
        self, camera: str, change: Callable[[Term], Term], *, create: bool, retry: bool
    ) -> tuple[Doc | None, Doc | None]:
        """One atomic read-modify-write of a camera's row; its (old, new) values.

        ``change(row)`` gives the new row (returning ``row`` leaves it unchanged). A
        missing row stays missing, or with ``create`` is made by applying ``change`` to
        a default row, in the same write. The default row is bound once (``do``), so
        the query carries one copy of it however often ``change`` reads the row.
        """
        missing = r.expr(new_camera(camera)).do(change) if create else None
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

    # -- set-up ----------------------------------------------------------------------------

    def setup(self) -> None:
        """Create what is missing, one part at a time (see ``rethink_schema``); refuse a
        database holding duplicate tables with a message naming the repair."""
        self.schema.setup()

    def ping(self) -> None:
        self._run(r.expr(1))

    def close(self) -> None:
        self._runner.close()
