"""What the views share: settings, the store (opened when first needed) and the clock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app

from spectare.logs import get_logger
from spectare.settings import Settings
from spectare.store import Store, StoreError, open_store

log = get_logger(__name__)

_KEY = "spectare"


class StoreHolder:
    """The store, opened on first use and again after a failed open.

    The API starts even when the store is not up yet (RethinkDB still starting on a
    fresh cluster): ``/healthz`` answers at once, ``/readyz`` and the data routes
    answer 503 until the store does.
    """

    def __init__(self, url: str, store: Store | None = None, deadline: float | None = None) -> None:
        """``deadline`` bounds each store call (Settings.store_deadline_seconds)."""
        self._url = url
        self._deadline = deadline
        self._store = store
        self._owned = store is None
        self._lock = threading.Lock()

    def get(self) -> Store:
        """The open store; StoreError when it cannot be opened."""
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is None:
                self._store = open_store(self._url, deadline=self._deadline)
                log.info("api.store_opened", store=self._url)
            return self._store

    def close(self) -> None:
        """Close the store if this holder opened it."""
        with self._lock:
            if self._store is not None and self._owned:
                try:
                    self._store.close()
                except StoreError as exc:
                    log.warning("api.store_close_failed", error=str(exc))
                self._store = None


@dataclass
class Services:
    """Everything a request may need, hung on the Flask app."""

    settings: Settings
    stores: StoreHolder
    clock: Callable[[], float] = field(default=time.time)

    @property
    def store(self) -> Store:
        """The open store (StoreError, hence 503, when it does not answer)."""
        return self.stores.get()

    @property
    def footage_root(self) -> Path:
        """Root of the footage tree."""
        return Path(self.settings.footage_dir)

    def now(self) -> float:
        """The current time, epoch seconds."""
        return self.clock()


def attach(app: Flask, services: Services) -> None:
    """Hang the services on the app."""
    app.extensions[_KEY] = services


def services(app: Flask | None = None) -> Services:
    """The services of ``app`` (default: the app handling this request)."""
    target = app if app is not None else current_app
    found: Services = target.extensions[_KEY]
    return found
