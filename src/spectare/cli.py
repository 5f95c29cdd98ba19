"""The ``spectare`` command: each subcommand delegates to the part that does the work."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click

from spectare import __version__
from spectare.errors import UserError
from spectare.logs import setup_logging
from spectare.settings import Settings, SettingsError, load_settings

# Imports of one subcommand go inside it: ``spectare worker`` runs once per camera and
# must stay lean (no pydantic, no asyncio): tests/unit/test_lean_worker.py checks.


def _settings(load: Callable[[], Settings] = load_settings) -> Settings:
    """Settings from the environment (a clear error when they are bad), logging set up."""
    try:
        settings = load()
    except SettingsError as exc:  # its message names each bad variable
        raise click.ClickException(f"bad SPECTARE_* environment: {exc}") from exc
    setup_logging(settings.log_level, settings.log_format)
    return settings


def _iso(moment: float | None) -> str:
    if moment is None:
        return "-"
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")


def _when(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not an ISO date/time") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class _Command(click.Group):
    """Turns every failure into one line; ``--debug`` shows the traceback instead."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            if ctx.params.get("debug"):
                raise
            if isinstance(exc, UserError):
                raise click.ClickException(str(exc)) from None
            raise click.ClickException(
                f"{type(exc).__name__}: {exc} (run `spectare --debug ...` for the traceback)"
            ) from None


@click.group(cls=_Command, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="spectare")
@click.option("--debug", is_flag=True, help="Show the traceback of a failure.")
def main(debug: bool) -> None:
    """Spectare records IP cameras: one Camera resource per camera, recorded around the clock."""


@main.command()
@click.option(
    "-f", "--file", "files", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True, required=True, help="Camera (and Secret) manifests; repeatable.",
)  # fmt: skip
@click.option(
    "--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
    default=Path("data"), show_default=True, help="Where the index and footage go.",
)  # fmt: skip
@click.option("--port", default=8080, show_default=True, help="Port of the web UI and API.")
@click.option("--max-workers", type=click.IntRange(min=1), help="Most cameras recorded at once.")
@click.option("--demo-camera", is_flag=True, help="Also serve the demo camera on 127.0.0.1.")
@click.option(
    "--demo-port", default=8554, show_default=True, type=click.IntRange(0, 65535),
    help="The demo camera's RTSP port (0: any free one); cameras that point at "
    "rtsp://127.0.0.1:8554/ follow it.",
)  # fmt: skip
def up(
    files: tuple[Path, ...],
    data_dir: Path,
    port: int,
    max_workers: int | None,
    demo_camera: bool,
    demo_port: int,
) -> None:
    """Record the cameras of FILE on this machine, without Kubernetes."""
    from spectare.local.up import UpOptions, run_up
    from spectare.manifests import ManifestError, load_files

    settings = _settings()
    try:
        manifests = load_files(files)
    except ManifestError as exc:
        raise click.ClickException(str(exc)) from exc
    options = UpOptions(data_dir, port, max_workers, demo_camera, demo_port)
    sys.exit(run_up(settings, manifests, options))


@main.command()
@click.option("--camera", required=True, help="The camera's name (its id).")
def worker(camera: str) -> None:
    """Record one camera (settings from SPECTARE_* environment variables)."""
    from spectare.worker import run_worker

    sys.exit(run_worker(_settings(), camera))


@main.command()
def api() -> None:
    """Serve the REST API and web UI."""
    from spectare.api import serve

    serve(_settings())


@main.command()
def operator() -> None:
    """Run the Kubernetes operator: a worker pod per enabled Camera (kubeconfig or in-cluster)."""
    from spectare.operator import OperatorSettings, run
    from spectare.operator import load_settings as operator_settings

    settings = _settings(operator_settings)
    assert isinstance(settings, OperatorSettings)
    run(settings)


@main.command()
def crd() -> None:
    """Print the Camera CustomResourceDefinition, generated from the model."""
    from spectare.crd import crd_yaml

    click.echo(crd_yaml(), nl=False)


@main.command("demo-camera")
@click.option("--port", default=8554, show_default=True, help="RTSP port on 127.0.0.1.")
@click.option("--path", "paths", multiple=True, default=["/demo"], show_default=True)
@click.option("--username", help="Require these credentials.")
@click.option("--password", help="Require these credentials.")
def demo_camera(
    port: int, paths: tuple[str, ...], username: str | None, password: str | None
) -> None:
    """Serve a generated H.264 stream over RTSP, something moving in it, until Ctrl-C."""
    from spectare.demo import DemoCamera, DemoCameraPortInUse

    camera = DemoCamera(
        port=port, paths=list(paths), username=username, password=password, scene=True
    )
    try:
        camera.start()
    except DemoCameraPortInUse as exc:
        raise UserError(
            f"port {port} is taken by another program: pass --port with another port, "
            "or --port 0 for any free one"
        ) from exc
    with camera as cam:
        for path in paths:
            click.echo(f"serving {cam.url(path)}")
        with contextlib.suppress(KeyboardInterrupt):
            cam.wait()


@main.group()
def footage() -> None:
    """What was recorded."""


@footage.command("ls")
@click.option("--camera", help="Only this camera (default: all).")
@click.option("--from", "since", help="ISO date/time, UTC unless it says otherwise.")
@click.option("--to", "until", help="ISO date/time, UTC unless it says otherwise.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
def footage_ls(camera: str | None, since: str | None, until: str | None, limit: int) -> None:
    """List segments, newest first."""
    from spectare.store import StoreError, open_store

    settings = _settings()
    try:
        store = open_store(settings.store, deadline=settings.store_deadline_seconds)
        store.list_cameras()
    except StoreError as exc:
        raise UserError(f"{exc}; check SPECTARE_STORE") from exc
    names = [camera] if camera else [c.id for c in store.list_cameras()]
    click.echo(f"{'CAMERA':<16} {'START (UTC)':<25} {'SECONDS':>8} {'BYTES':>11}  ID")
    for name in names:
        page = store.footage_range(name, _when(since), _when(until), limit, descending=True)
        for item in page.items:
            click.echo(
                f"{item.camera:<16} {_iso(item.start):<25} {item.duration:>8.1f} "
                f"{item.bytes:>11}  {item.id}"
            )
    store.close()


@main.command()
@click.option(
    "-f", "--file", "files", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True, required=True,
)  # fmt: skip
def check(files: tuple[Path, ...]) -> None:
    """Validate manifests without recording anything."""
    from spectare.manifests import ManifestError, load_files

    try:
        manifests = load_files(files)
    except ManifestError as exc:
        raise click.ClickException(str(exc)) from exc
    for camera in manifests.cameras:
        state = "enabled" if camera.spec.enabled else "disabled"
        click.echo(f"ok  {camera.name}  ({state}, {camera.spec.segment_seconds} s segments)")


@main.group()
def store() -> None:
    """The footage store (SPECTARE_STORE)."""


@store.command("repair")
def store_repair() -> None:
    """Mend a store that set-up refuses: merge duplicate tables (kept rows win on equal
    ids), create what is missing, recount every camera. Safe while parts run."""
    from spectare.store import StoreError, open_store

    settings = _settings()
    try:
        opened = open_store(settings.store, setup=False, deadline=settings.store_deadline_seconds)
        done = opened.repair()
        opened.setup()
        opened.close()
    except StoreError as exc:
        raise UserError(f"{exc}; check SPECTARE_STORE") from exc
    for line in done:
        click.echo(line)
    click.echo("store repaired" if done else "nothing to repair; the store is set up")
