"""``spectare up``: manifests in, cameras recorded, API served, Ctrl-C stops it all cleanly."""

from __future__ import annotations

import contextlib
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from spectare.api import ApiServer
from spectare.demo import DemoCamera
from spectare.local.pool import LocalPool
from spectare.local.status import StatusPrinter
from spectare.logs import get_logger
from spectare.manifests import Manifests
from spectare.settings import Settings
from spectare.store import open_store

log = get_logger(__name__)

DEMO_PORT = 8554


@dataclass(frozen=True)
class UpOptions:
    """What ``spectare up`` was asked for."""

    data_dir: Path
    port: int
    max_workers: int | None
    demo_camera: bool


def local_settings(base: Settings, options: UpOptions) -> Settings:
    """Settings for the local processes: the store and footage under the data directory."""
    data = options.data_dir.resolve()
    return base.model_copy(
        update={
            "store": f"sqlite:///{data / 'spectare.db'}",
            "footage_dir": data / "footage",
            "api_port": options.port,
            "max_workers": options.max_workers or base.max_workers,
        }
    )


def run_up(base: Settings, manifests: Manifests, options: UpOptions) -> int:
    """Record every enabled camera until interrupted; the exit code."""
    settings = local_settings(base, options)
    settings.footage_dir.mkdir(parents=True, exist_ok=True)
    store = open_store(settings.store)
    pool = LocalPool(settings, manifests, store, options.data_dir.resolve() / "logs")
    printer = StatusPrinter(sys.stdout.write)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        print("stopping: finishing the current segments ...", file=sys.stderr, flush=True)
        pool.stop()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with contextlib.ExitStack() as stack:
        if options.demo_camera:
            camera = DemoCamera(port=DEMO_PORT, paths=["/demo"])
            stack.enter_context(camera)
            log.info("demo_camera.serving", url=camera.url("/demo"))
        api = ApiServer(settings, store=store)
        api.start()
        stack.callback(api.stop)
        print(
            f"spectare: {len(manifests.cameras)} camera(s); data in {options.data_dir}; "
            f"web UI and API on http://{settings.api_host}:{api.port}/ ; Ctrl-C stops",
            flush=True,
        )
        pool.run(on_tick=lambda: printer.show(store.list_cameras()))
    printer.show(store.list_cameras())
    store.close()
    return 0
