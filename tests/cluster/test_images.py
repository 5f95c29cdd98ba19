"""The images, as a user gets them: built from the Dockerfiles, small, and working.

Both images are built by a private dockerd on a base made with debootstrap (no registry
is reachable here), so these tests also prove the Dockerfiles build from any Python base
and offline.  The containers run with ``--read-only`` (the chart's
``readOnlyRootFilesystem: true``) and ``--network host``, against loopback only.
"""

from __future__ import annotations

import json
import os
import tarfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.baseimage import BASE_REPOSITORY
from harness.dockerd import PrivateDockerd
from harness.footage import LAYOUT, playable_seconds, segment_files
from harness.images import MAX_CONTROL_BYTES, MAX_WORKER_BYTES, BuiltImages
from harness.procs import free_port, wait_until
from harness.rtsp import DemoCameraFactory
from harness.workers import FAST_ENV
from spectare.store.sqlite import SQLiteStore
from spectare.worker.ffmpeg import keyframe_components

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

UID = 10001  # the images' user and the chart's runAsUser


def _shell(engine: PrivateDockerd, image: str, script: str) -> tuple[int, str]:
    """Run ``sh -c script`` in a throw-away read-only container; (exit code, output)."""
    done = engine.run(
        ["run", "--rm", "--read-only", "--network", "none", "--entrypoint", "sh", image,
         "-c", script],
        check=False, timeout=120,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def _data_dir(path: Path) -> Path:
    """A folder the images' user owns, to bind-mount (as a volume is on a node)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chown(path, UID, UID)
    return path


def test_both_images_build_from_the_debootstrap_base(
    spectare_images: BuiltImages, docker_engine: PrivateDockerd
) -> None:
    base = spectare_images.base_ref
    assert base.startswith(f"{BASE_REPOSITORY}:")
    # The base is Debian's python3 alone: no `python` command, no pip.
    code, out = _shell(
        docker_engine, base, "command -v python3; command -v python || echo no-python; "
        "python3 -m pip --version >/dev/null 2>&1 || echo no-pip",
    )  # fmt: skip
    assert code == 0, out
    assert out.split() == ["/usr/bin/python3", "no-python", "no-pip"]
    base_layers = docker_engine.image_inspect(base)["RootFS"]["Layers"]  # type: ignore[index]
    for ref, tar in (
        (spectare_images.worker_ref, spectare_images.worker_tar),
        (spectare_images.control_ref, spectare_images.control_tar),
    ):
        image = docker_engine.image_inspect(ref)
        assert image is not None, ref
        assert image["RootFS"]["Layers"][: len(base_layers)] == base_layers, ref
        assert image["Config"]["User"] == f"{UID}:{UID}"
        # A docker-archive that `ctr images import` reads: manifest.json names the tag.
        with tarfile.open(tar) as archive:
            manifest = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert [m["RepoTags"] for m in manifest] == [[ref]]


def test_image_sizes_are_within_the_limits(spectare_images: BuiltImages) -> None:
    assert spectare_images.worker_bytes <= MAX_WORKER_BYTES, spectare_images.worker_bytes
    assert spectare_images.control_bytes <= MAX_CONTROL_BYTES, spectare_images.control_bytes


def test_worker_image_has_ffmpeg_and_ffprobe_but_no_gpu_chain(
    spectare_images: BuiltImages, docker_engine: PrivateDockerd
) -> None:
    code, out = _shell(
        docker_engine, spectare_images.worker_ref,
        "ffmpeg -hide_banner -version && ffprobe -hide_banner -version "
        "&& ldd $(command -v ffmpeg) $(command -v ffprobe)",
    )  # fmt: skip
    assert code == 0, out
    assert "ffmpeg version" in out and "ffprobe version" in out
    assert "not found" not in out
    code, out = _shell(
        docker_engine, spectare_images.worker_ref,
        "ls /usr/lib/*/libLLVM* /usr/lib/*/dri /usr/lib/*/libvulkan_* 2>/dev/null; true",
    )  # fmt: skip
    assert out.strip() == "", out
    code, out = _shell(docker_engine, spectare_images.control_ref, "command -v ffmpeg ffprobe")
    assert code != 0 and out.strip() == "", "the control image has no ffmpeg"


def test_worker_image_ffmpeg_can_sample_keyframes_for_motion(
    spectare_images: BuiltImages, docker_engine: PrivateDockerd
) -> None:
    """The image's minimal ffmpeg has every muxer and filter that copying the keyframes of
    a ts or mkv segment out for motion names (a missing one leaves them unscored)."""
    muxers, filters = keyframe_components()
    code, out = _shell(
        docker_engine,
        spectare_images.worker_ref,
        "ffmpeg -hide_banner -muxers; ffmpeg -hide_banner -bsfs",
    )
    assert code == 0, out
    # Muxers are listed as " E  name  description", bitstream filters one name a line.
    names = {words[-1] if len(words := line.split()[:2]) == 1 else words[1] for line in
             out.splitlines() if line.strip()}  # fmt: skip
    assert muxers <= names and filters <= names, sorted((muxers | filters) - names)


def test_worker_image_records_a_camera_with_a_read_only_root(
    spectare_images: BuiltImages,
    docker_engine: PrivateDockerd,
    run_container: Callable[..., str],
    demo_cameras: DemoCameraFactory,
    tmp_path: Path,
) -> None:
    camera = demo_cameras()
    footage = _data_dir(tmp_path / "footage")
    data = _data_dir(tmp_path / "data")
    env = {
        **FAST_ENV,
        "SPECTARE_STORE": "sqlite:////data/spectare.db",
        "SPECTARE_WORKER_ID": "image-test-worker",
        "SPECTARE_CAMERA_SPEC": json.dumps({"url": camera.url(), "segmentSeconds": 2}),
    }
    options = ["--read-only", "--network", "host", "--user", f"{UID}:{UID}",
               "--volume", f"{footage}:/footage", "--volume", f"{data}:/data"]  # fmt: skip
    for name, value in env.items():
        options += ["--env", f"{name}={value}"]
    container = run_container(spectare_images.worker_ref, "--camera", "gate", options=options)

    def finished_segments() -> list[Path]:
        state = docker_engine.run(["inspect", "--format", "{{.State.Running}}", container])
        if state.stdout.strip() != "true":
            logs = docker_engine.run(["logs", container], check=False)
            raise AssertionError(f"the worker exited:\n{logs.stdout}{logs.stderr}")
        return [p for p in segment_files(footage) if playable_seconds(p) > 0]

    try:
        wait_until(lambda: len(finished_segments()) >= 2, 90, "two recorded segments")
    except TimeoutError as exc:
        logs = docker_engine.run(["logs", container], check=False)
        raise AssertionError(f"{exc}; the worker's log:\n{logs.stdout}{logs.stderr}") from None
    # SIGTERM, as the kubelet stops a pod: the worker closes its segment and exits 0.
    docker_engine.run(["stop", "--time", "30", container], timeout=60)
    exit_code = docker_engine.run(["inspect", "--format", "{{.State.ExitCode}}", container])
    logs = docker_engine.run(["logs", container], check=False)
    assert exit_code.stdout.strip() == "0", logs.stdout + logs.stderr
    assert "Read-only file system" not in logs.stdout + logs.stderr
    segments = segment_files(footage)
    assert segments
    seconds = [playable_seconds(segment) for segment in segments]
    for segment, playable in zip(segments, seconds, strict=True):
        assert LAYOUT.match(str(segment.relative_to(footage))), segment
        assert playable > 0, segment  # the last one, closed at SIGTERM, may be short
    assert sum(seconds) >= 2.0, seconds
    # The image's own ffmpeg did the indexing (codec and size) and decoded the keyframes
    # read back from each closed segment for motion; thumbnails are the API's.
    store = SQLiteStore(str(data / "spectare.db"))
    try:
        indexed = {f.id: f for f in store.footage_range("gate", limit=1000).items}
    finally:
        store.close()
    assert {p.stem for p in segments} <= set(indexed)
    for segment in segments:
        row = indexed[segment.stem]
        assert (row.codec, row.width) == ("h264", camera.width), row
    assert any(indexed[s.stem].motion is not None for s in segments), "motion was scored"
    assert "motion.failed" not in logs.stdout + logs.stderr


def test_control_image_serves_the_api_with_a_read_only_root(
    spectare_images: BuiltImages, run_container: Callable[..., str], tmp_path: Path
) -> None:
    port = free_port()
    data = _data_dir(tmp_path / "data")
    options = [
        "--read-only", "--network", "host", "--user", f"{UID}:{UID}",
        "--volume", f"{data}:/data",
        "--env", "SPECTARE_API_HOST=127.0.0.1", "--env", f"SPECTARE_API_PORT={port}",
        "--env", "SPECTARE_STORE=sqlite:////data/spectare.db",
    ]  # fmt: skip
    run_container(spectare_images.control_ref, options=options)  # its CMD: spectare api

    def answer(path: str) -> tuple[int, dict[str, object]] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as reply:
                return reply.status, json.load(reply)
        except OSError:
            return None

    started = time.monotonic()
    status, body = wait_until(lambda: answer("/healthz"), 60, "the API's /healthz")
    assert status == 200 and body.get("status") == "ok", body
    ready = wait_until(lambda: answer("/readyz"), max(5.0, 60 - (time.monotonic() - started)),
                     "the API's /readyz")  # fmt: skip
    assert ready[0] == 200, ready
