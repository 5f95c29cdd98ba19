"""The footage store's interface; every backend passes the same contract tests."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Literal

from spectare.store.records import CameraInfo, CameraRecord, Event, Footage, Page

Counter = Literal["restarts", "reconnects"]


class StoreError(RuntimeError):
    """The store cannot be reached or refused an operation; callers may retry."""


class Store(ABC):
    """Cameras (hold, state, counters), footage and events."""

    @abstractmethod
    def setup(self) -> None:
        """Create tables and indexes if missing; safe to call on every start."""

    def repair(self) -> list[str]:
        """Mend what ``setup`` refuses to touch (e.g. duplicate tables); one line per
        change. Backends that cannot hold such damage have nothing to do."""
        return []

    @abstractmethod
    def ping(self) -> None:
        """Raise StoreError unless the store answers."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    # -- cameras ---------------------------------------------------------------------------

    @abstractmethod
    def upsert_camera(self, info: CameraInfo) -> None:
        """Create or update a camera's spec mirror, keeping its hold and counters."""

    @abstractmethod
    def remove_camera(self, camera: str) -> None:
        """Forget a camera's row (its footage stays)."""

    @abstractmethod
    def get_camera(self, camera: str) -> CameraRecord | None:
        """One camera's row."""

    @abstractmethod
    def list_cameras(self) -> list[CameraRecord]:
        """Every camera's row, by id."""

    @abstractmethod
    def grab(self, camera: str, worker: str, now: float, stale_seconds: float) -> bool:
        """Atomically hold ``camera`` for ``worker``.

        Succeeds only when the camera is free, already held by ``worker``, or its
        holder's heartbeat is older than ``stale_seconds``. Creates the row if missing.
        """

    @abstractmethod
    def heartbeat(
        self, camera: str, worker: str, now: float, phase: str, message: str | None = None
    ) -> bool:
        """Refresh the hold and state; False when ``worker`` no longer holds ``camera``."""

    @abstractmethod
    def release(self, camera: str, worker: str | None = None) -> bool:
        """Free the camera (only if ``worker`` holds it, unless ``worker`` is None)."""

    @abstractmethod
    def release_stale(self, now: float, stale_seconds: float) -> list[str]:
        """Free every camera whose holder's heartbeat is stale; the ids freed."""

    @abstractmethod
    def set_phase(self, camera: str, phase: str, message: str | None = None) -> None:
        """Set a camera's phase and message (supervisors: Queued, Disabled, Failed...)."""

    @abstractmethod
    def bump(self, camera: str, counter: Counter, amount: int = 1) -> None:
        """Add to one of a camera's counters."""

    # -- footage ---------------------------------------------------------------------------

    @abstractmethod
    def add_footage(self, footage: Footage, now: float) -> bool:
        """Index a segment and update the camera's counters; False if already indexed."""

    def reconcile(self, camera: str) -> bool:
        """Make ``camera``'s counters agree with its footage if a write was interrupted
        between the footage row and the counters; True when they were recomputed.
        Backends whose writes are transactions have nothing to do."""
        return False

    @abstractmethod
    def get_footage(self, footage_id: str) -> Footage | None:
        """One segment by id."""

    def footage_present(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are indexed (backends answer many at once where they can)."""
        return {i for i in dict.fromkeys(ids) if self.get_footage(i) is not None}

    @abstractmethod
    def footage_range(
        self,
        camera: str,
        start: float | None = None,
        end: float | None = None,
        limit: int = 100,
        cursor: str | None = None,
        descending: bool = False,
    ) -> Page:
        """Segments of ``camera`` overlapping [start, end), ordered by start."""

    @abstractmethod
    def delete_footage(self, ids: Sequence[str]) -> int:
        """Drop segments' rows and update counters; how many were dropped."""

    # -- events ----------------------------------------------------------------------------

    @abstractmethod
    def add_event(self, event: Event) -> None:
        """Record a motion event (idempotent by id)."""

    @abstractmethod
    def list_events(
        self,
        camera: str | None = None,
        start: float | None = None,
        end: float | None = None,
        limit: int = 500,
    ) -> list[Event]:
        """Events overlapping [start, end), oldest first."""
