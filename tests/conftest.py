"""Fixtures shared by every tier: real demo cameras, a SQLite store, worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.rtsp import DemoCameraFactory
from harness.workers import WorkerFactory
from spectare.store import Store
from spectare.store.sqlite import SQLiteStore

pytest_plugins = ["harness.k8s_fixtures", "harness.image_fixtures"]


@pytest.fixture
def demo_cameras(tmp_path: Path) -> Iterator[DemoCameraFactory]:
    """Starts real RTSP cameras on 127.0.0.1 (small and cheap); all stopped at teardown."""
    with DemoCameraFactory(
        tmp_path / "demo-cameras", width=320, height=180, fps=15, bitrate_kbps=300, gop_seconds=1
    ) as factory:
        yield factory


@pytest.fixture
def footage_root(tmp_path: Path) -> Path:
    """An empty footage root."""
    root = tmp_path / "footage"
    root.mkdir()
    return root


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a fresh SQLite store."""
    return f"sqlite:///{tmp_path / 'spectare.db'}"


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    """The test's SQLite store, set up, as the test reads it."""
    store = SQLiteStore(sqlite_url.removeprefix("sqlite:///"))
    store.setup()
    yield store
    store.close()


@pytest.fixture
def workers(tmp_path: Path, sqlite_url: str, footage_root: Path) -> Iterator[WorkerFactory]:
    """Starts real ``spectare worker`` processes; every one is stopped at teardown."""
    with WorkerFactory(tmp_path / "worker-logs", sqlite_url, footage_root) as factory:
        yield factory
