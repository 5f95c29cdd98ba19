"""Session fixtures shared by the API and browser tests (imported by their conftests)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from apiharness.dataset import SECRET, STALE_SECONDS, Dataset, build
from apiharness.footage import ClipMaker
from apiharness.server import ApiProcess
from spectare.store import CameraInfo, open_store

TOKEN = "test-token-6f1d2c"

StartServer = Callable[..., ApiProcess]


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> ClipMaker:
    """Encodes each test clip once per session."""
    return ClipMaker(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory, clips: ClipMaker) -> Dataset:
    """Three cameras with real footage, thumbnails, snapshots and events."""
    return build(tmp_path_factory.mktemp("world"), clips, time.time())


@pytest.fixture(scope="session")
def start_server(
    tmp_path_factory: pytest.TempPathFactory, dataset: Dataset
) -> Iterator[StartServer]:
    """Starts API subprocesses over the dataset; stops them all and checks their logs."""
    started: list[ApiProcess] = []

    def start(name: str, store_url: str | None = None, **env: str) -> ApiProcess:
        settings = {
            "SPECTARE_STORE": store_url or dataset.store_url,
            "SPECTARE_FOOTAGE_DIR": str(dataset.root),
            "SPECTARE_STALE_SECONDS": str(STALE_SECONDS),
            **{f"SPECTARE_{key.upper()}": value for key, value in env.items()},
        }
        server = ApiProcess(tmp_path_factory.mktemp(f"api-{name}"), settings)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()
    leaks = [s.log_path for s in started if SECRET in s.log()]
    assert not leaks, f"a camera password reached the API log: {leaks}"


@pytest.fixture(scope="session")
def live_server(
    start_server: StartServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiProcess]:
    """An API over a store of its own whose camera "demo" is a real demo camera (a
    moving scene); "secret" needs credentials the API does not have."""
    # Imported here: the harness package is on the path only once the root conftest ran.
    from harness.rtsp import DemoCameraFactory

    base = tmp_path_factory.mktemp("live")
    with DemoCameraFactory(
        base / "cameras", width=320, height=180, fps=15, bitrate_kbps=300, gop_seconds=1
    ) as cameras:
        camera = cameras(scene=True)
        store_url = f"sqlite:///{base / 'spectare.db'}"
        store = open_store(store_url)
        store.upsert_camera(CameraInfo(id="demo", display_name="Demo", url=camera.url("/demo")))
        store.upsert_camera(
            CameraInfo(id="secret", display_name="Secret", url="rtsp://admin:***@127.0.0.1:9/x")
        )
        store.upsert_camera(
            CameraInfo(id="off", display_name="Off", enabled=False, url=camera.url("/demo"))
        )
        store.close()
        yield start_server("live", store_url)


@pytest.fixture(scope="session")
def api(start_server: StartServer) -> ApiProcess:
    """The API as `spectare api` runs it by default: no token, reads open, writes refused."""
    return start_server("open")


@pytest.fixture(scope="session")
def api_token(
    start_server: StartServer, dataset: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> ApiProcess:
    """The API with a token (writes need it, reads do not), over a copy of the store."""
    url = dataset.copy_store(tmp_path_factory.mktemp("token-store") / "spectare.db")
    return start_server("token", url, api_token=TOKEN)


@pytest.fixture(scope="session")
def api_private(start_server: StartServer) -> ApiProcess:
    """The API with a token required for reads too."""
    return start_server("private", api_token=TOKEN, api_read_auth="true")


def footage_file(data: Dataset, relpath: str) -> Path:
    """A footage file's full path."""
    return data.root / relpath
