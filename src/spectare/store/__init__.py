"""The footage store: one interface, backends chosen by URL."""

from __future__ import annotations

from urllib.parse import urlparse

from spectare.store.base import Store, StoreError
from spectare.store.records import CameraInfo, CameraRecord, Event, Footage, Page

__all__ = [
    "CameraInfo",
    "CameraRecord",
    "Event",
    "Footage",
    "Page",
    "Store",
    "StoreError",
    "open_store",
]


def open_store(url: str, setup: bool = True, deadline: float | None = None) -> Store:
    """The store at ``url`` (``sqlite:///path`` or ``rethinkdb://host:port/db``), set up.

    ``deadline`` bounds each call to a network store, in seconds (the setting
    ``store_deadline_seconds``); None takes that setting's default.
    """
    scheme = urlparse(url).scheme
    store: Store
    if scheme == "sqlite":
        from spectare.store.sqlite import SQLiteStore

        path = url[len("sqlite://") :]
        if not path or path == "/":
            raise StoreError(f"no file in store URL {url!r}: use sqlite:///path/spectare.db")
        # sqlite:///relative.db names a relative path, sqlite:////abs an absolute one,
        # as in SQLAlchemy.
        store = SQLiteStore(path[1:] if path.startswith("/") else path)
    elif scheme == "rethinkdb":
        from spectare.store.rethink import RethinkStore
        from spectare.store.rethink_conn import DEFAULT_DEADLINE

        store = RethinkStore(url, deadline=deadline or DEFAULT_DEADLINE)
    else:
        raise StoreError(
            f"unknown store URL {url!r}: use sqlite:///path/spectare.db or rethinkdb://host:28015/db"
        )
    if setup:
        store.setup()
    return store
