"""Build the worker and control images from the repository's Dockerfiles, offline.

``build_images()`` starts (or uses) a private dockerd (``harness.dockerd``), makes or
reuses the debootstrap-made test base (``harness.baseimage``), builds
``Dockerfile.worker`` and ``Dockerfile.api`` with ``--build-arg PYTHON_IMAGE=<base>`` and
``--network host``, and exports each image as a docker-archive tar for
``ctr -n k8s.io images import``.  Every step is skipped when its result for the current
inputs is cached: the base by a hash of this machine's package settings, an image by a
hash of its Dockerfile, pyproject.toml, README.md, src/ and the base, a tar by the id of
the image it holds.  A warm run only starts and stops dockerd.

CI warms the cache before pytest with::

    python tests/harness/images.py build

which prints the refs, tars and sizes as JSON on stdout and exits 1 with the reason on
failure.  The images are test builds (the base carries this machine's CA bundle and
package settings): never push them.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``harness`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.baseimage import ensure_base
from harness.dockerd import DockerError, PrivateDockerd, cache_dir, progress

__all__ = [
    "CONTROL_REF",
    "MAX_CONTROL_BYTES",
    "MAX_WORKER_BYTES",
    "ROOT",
    "WORKER_REF",
    "BuiltImages",
    "DockerError",
    "build_images",
    "engine_with_images",
    "source_digest",
]

ROOT = Path(__file__).resolve().parents[2]
WORKER_REF = "spectare/spectare-worker:test"
CONTROL_REF = "spectare/spectare:test"
#: The size limits of DESIGN.md and issue 8, in bytes as ``docker image inspect`` counts.
MAX_WORKER_BYTES = 300 * 1000 * 1000
MAX_CONTROL_BYTES = 200 * 1000 * 1000
SOURCE_LABEL = "io.spectare.test.source"
#: Build stages are tagged here to keep their cache (never pushed, like everything here).
STAGE_REPOSITORY = "spectare-test-only/stage"
#: What goes into an image besides its Dockerfile (see .dockerignore).
CONTEXT = ("pyproject.toml", "README.md", ".dockerignore", "src")


@dataclasses.dataclass(frozen=True)
class BuiltImages:
    """The two images, built and exported."""

    worker_ref: str  #: tag in the private engine (and in the tar)
    control_ref: str
    worker_tar: Path  #: docker-archive, for ``ctr -n k8s.io images import``
    control_tar: Path
    base_ref: str  #: the debootstrap-made test base they were built on
    worker_bytes: int  #: ``docker image inspect -f '{{.Size}}'``
    control_bytes: int


def source_digest(dockerfile: str, base_ref: str, base_id: str) -> str:
    """Hash of everything an image is built from: Dockerfile, context files, base."""
    h = hashlib.sha256(f"{dockerfile}\n{base_ref}\n{base_id}\n".encode())
    files = [ROOT / dockerfile]
    for name in CONTEXT:
        path = ROOT / name
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for path in files:
        if "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        h.update(str(path.relative_to(ROOT)).encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def _build_stages(engine: PrivateDockerd, dockerfile: str, base_ref: str, log: Path) -> None:
    """Build and tag each named stage: untagged, ``image prune`` would drop its cache
    (the worker's ffmpeg build takes minutes and depends on the base alone)."""
    stages = re.findall(r"(?im)^FROM\s+\S+\s+AS\s+([\w.-]+)\s*$", (ROOT / dockerfile).read_text())
    for stage in stages:
        name = f"{STAGE_REPOSITORY}:{dockerfile.lower().replace('.', '-')}-{stage}"
        engine.run(
            ["build", "--network", "host", "--file", str(ROOT / dockerfile), "--target", stage,
             "--build-arg", f"PYTHON_IMAGE={base_ref}", "--tag", name, str(ROOT)],
            timeout=3600, log=log,
        )  # fmt: skip


def _build(engine: PrivateDockerd, dockerfile: str, ref: str, base_ref: str) -> str:
    """Build ``ref`` from ``dockerfile`` unless it exists for the current source; its id."""
    base = engine.image_inspect(base_ref)
    assert base is not None, base_ref
    digest = source_digest(dockerfile, base_ref, str(base["Id"]))
    found = engine.image_inspect(ref)
    if found and (found.get("Config") or {}).get("Labels", {}).get(SOURCE_LABEL) == digest:
        progress(f"{ref} cached (source {digest[:12]})")
        return str(found["Id"])
    log = cache_dir() / "images" / f"build-{dockerfile.lower().replace('.', '-')}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_bytes(b"")
    progress(f"building {ref} from {dockerfile} on {base_ref} (log {log})")
    started = time.monotonic()
    _build_stages(engine, dockerfile, base_ref, log)
    engine.run(
        [
            "build", "--network", "host", "--file", str(ROOT / dockerfile),
            "--build-arg", f"PYTHON_IMAGE={base_ref}",
            "--label", f"{SOURCE_LABEL}={digest}", "--tag", ref, str(ROOT),
        ],
        timeout=3600,
        log=log,
    )  # fmt: skip
    built = engine.image_inspect(ref)
    assert built is not None, ref
    progress(f"built {ref} in {time.monotonic() - started:.0f}s: {built['Size'] / 1e6:.0f} MB")
    return str(built["Id"])


def _export(engine: PrivateDockerd, ref: str, image_id: str) -> Path:
    """``docker save`` of ``ref`` into the cache, named by its image id; reused if there."""
    folder = cache_dir() / "images"
    stem = ref.split("/")[-1].replace(":", "-")
    tar = folder / f"{stem}-{image_id.split(':')[-1][:16]}.tar"
    if tar.exists():
        progress(f"{tar.name} cached")
        return tar
    partial = tar.with_suffix(".tar.partial")
    engine.run(["save", "--output", str(partial), ref], timeout=900)
    partial.rename(tar)
    for old in folder.glob(f"{stem}-*.tar"):
        if old != tar:
            old.unlink()
    progress(f"exported {ref} to {tar} ({tar.stat().st_size / 1e6:.0f} MB)")
    return tar


def build_images(engine: PrivateDockerd | None = None, *, export: bool = True) -> BuiltImages:
    """Build (or confirm the cache of) both images; export them as docker-archive tars.

    With no ``engine``, a private dockerd is started for the call and stopped after it.
    Raises ``DockerError`` (with the log's tail) when anything fails.
    """
    if engine is None:
        with PrivateDockerd() as own:
            return build_images(own, export=export)
    started = time.monotonic()
    base_ref = ensure_base(engine)
    worker_id = _build(engine, "Dockerfile.worker", WORKER_REF, base_ref)
    control_id = _build(engine, "Dockerfile.api", CONTROL_REF, base_ref)
    # Old builds of the same tags are dangling now: drop them so the cache stays bounded
    # (the stages' tags keep their cache).
    engine.run(["image", "prune", "--force"], check=False, timeout=300)
    worker_tar = _export(engine, WORKER_REF, worker_id) if export else Path()
    control_tar = _export(engine, CONTROL_REF, control_id) if export else Path()
    sizes = {
        ref: (engine.image_inspect(ref) or {}).get("Size", 0) for ref in (WORKER_REF, CONTROL_REF)
    }
    progress(f"images ready in {time.monotonic() - started:.0f}s")
    return BuiltImages(
        worker_ref=WORKER_REF,
        control_ref=CONTROL_REF,
        worker_tar=worker_tar,
        control_tar=control_tar,
        base_ref=base_ref,
        worker_bytes=int(sizes[WORKER_REF]),
        control_bytes=int(sizes[CONTROL_REF]),
    )


@contextmanager
def engine_with_images() -> Iterator[tuple[PrivateDockerd, BuiltImages]]:
    """A running private dockerd with both images built; dockerd stops afterwards."""
    with PrivateDockerd() as engine:
        yield engine, build_images(engine)


def main(argv: list[str] | None = None) -> int:
    """``build``: build or confirm the cached images and tars; exit 1 on failure."""
    parser = argparse.ArgumentParser(prog="python tests/harness/images.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build (or confirm the cache of) both images and their tars")
    parser.parse_args(argv)
    started = time.monotonic()
    try:
        built = build_images()
    except (DockerError, TimeoutError, OSError) as exc:
        print(f"[images] BUILD FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    result = {k: str(v) for k, v in dataclasses.asdict(built).items()}
    result["seconds"] = f"{time.monotonic() - started:.0f}"
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
