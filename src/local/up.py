"""``spectare up``: manifests in, cameras recorded, API served, Ctrl-C stops it all cleanly."""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from spectare.api import ApiServer
from spectare.demo import DemoCamera, DemoCameraPortInUse
from spectare.errors import UserError, ensure_writable, port_taken
from spectare.local.live import manifest_sources
from spectare.local.pool import LocalPool
from spectare.local.status import StatusPrinter
from spectare.logs import get_logger
from spectare.manifests import Manifests
from spectare.model import Camera
from spectare.settings import Settings
from spectare.store import open_store

log = get_logger(__name__)

#: The demo camera's usual port, the one examples/cameras.yaml points at.
DEMO_PORT = 8554
DEMO_HOST = "127.0.0.1"


@dataclass(frozen=True)
class UpOptions:
    """What ``spectare up`` was asked for."""

    data_dir: Path
    port: int
    max_workers: int | None
    demo_camera: bool
    demo_port: int = DEMO_PORT


def follow_demo_camera(manifests: Manifests, port: int) -> Manifests:
    """Point cameras at the demo camera's usual address to the port it really listens on."""
    if port == DEMO_PORT:
        return manifests
    usual = f"rtsp://{DEMO_HOST}:{DEMO_PORT}/"
    moved = f"rtsp://{DEMO_HOST}:{port}/"

    def follow(camera: Camera) -> Camera:
        if not camera.spec.url.startswith(usual):
            return camera
        url = moved + camera.spec.url[len(usual) :]
        return camera.model_copy(update={"spec": camera.spec.model_copy(update={"url": url})})

    return Manifests(cameras=[follow(c) for c in manifests.cameras], secrets=manifests.secrets)


def local_settings(base: Settings, options: UpOptions) -> Settings:
    """Settings for the local processes: the store and footage under the data directory."""
    data = options.data_dir.resolve()
    return dataclasses.replace(
        base,
        store=f"sqlite:///{data / 'spectare.db'}",
        footage_dir=data / "footage",
        api_port=options.port,
        max_workers=options.max_workers or base.max_workers,
    )


def run_up(base: Settings, manifests: Manifests, options: UpOptions) -> int:
    """Record every enabled camera until interrupted; the exit code."""
    settings = local_settings(base, options)
    ensure_writable(settings.footage_dir, "pass --data with a folder you can write to")
    with contextlib.ExitStack() as stack:
        if options.demo_camera:
            camera = stack.enter_context(_demo_camera(options.demo_port))
            log.info("demo_camera.serving", url=camera.url("/demo"))
            manifests = follow_demo_camera(manifests, camera.port)
        store = open_store(settings.store, deadline=settings.store_deadline_seconds)
        stack.callback(store.close)
        api = ApiServer(settings, store=store, live_sources=manifest_sources(manifests))
        try:
            api.start()
        except OSError as exc:
            if port_taken(exc):
                raise UserError(
                    f"port {options.port} is taken by another program: pass --port with "
                    "another port, or --port 0 for any free one"
                ) from exc
            raise
        stack.callback(api.stop)
        pool = LocalPool(settings, manifests, store, options.data_dir.resolve() / "logs")
        printer = StatusPrinter(sys.stdout.write)

        def on_signal(signum: int, frame: FrameType | None) -> None:
            print("stopping: finishing the current segments ...", file=sys.stderr, flush=True)
            pool.stop()

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        print(
            f"spectare: {len(manifests.cameras)} camera(s); data in {options.data_dir}; "
            f"web UI and API on http://{settings.api_host}:{api.port}/ ; Ctrl-C stops",
            flush=True,
        )
        pool.run(on_tick=lambda: printer.show(store.list_cameras()))
        printer.show(store.list_cameras())
    return 0


def _demo_camera(port: int) -> DemoCamera:
    """The demo camera, started; a UserError when its port is taken."""
    camera = DemoCamera(host=DEMO_HOST, port=port, paths=["/demo"], scene=True)
    try:
        camera.start()
    except DemoCameraPortInUse as exc:
        raise UserError(
            f"the demo camera's port {port} is taken by another program: pass --demo-port "
            "with another port, or --demo-port 0 for any free one"
        ) from exc
    return camera
