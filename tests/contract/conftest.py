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
