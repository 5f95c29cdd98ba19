"""Pytest fixtures for the images (see harness.images), loaded by tests/conftest.py.

``docker_engine`` is the session's private dockerd (started on first use, stopped at
the end of the session); ``spectare_images`` the two images built from the
Dockerfiles on the debootstrap-made base, with their docker-archive tars for
``ctr -n k8s.io images import``.  A failed build fails the tests that use them: never
a skip.  ``run_container`` starts containers that are removed after the test.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator, Sequence

import pytest

from harness.dockerd import PrivateDockerd
from harness.images import BuiltImages, build_images


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[PrivateDockerd]:
    """The session's private dockerd (own data root in the cache, own socket)."""
    with PrivateDockerd() as engine:
        yield engine


@pytest.fixture(scope="session")
def spectare_images(docker_engine: PrivateDockerd) -> BuiltImages:
    """Both images built (or confirmed cached) and exported as tars."""
    return build_images(docker_engine)


@pytest.fixture
def run_container(docker_engine: PrivateDockerd) -> Iterator[Callable[..., str]]:
    """``run_container(image, *args, options=[...])`` starts a detached container; its name.

    Every container started is stopped (SIGTERM, 20 s grace) and removed afterwards.
    """
    started: list[str] = []

    def run(image: str, *args: str, options: Sequence[str] = ()) -> str:
        name = f"spectare-test-{secrets.token_hex(4)}"
        started.append(name)
        docker_engine.run(["run", "--detach", "--name", name, *options, image, *args])
        return name

    yield run
    for name in reversed(started):
        with contextlib.suppress(Exception):
            docker_engine.run(["stop", "--time", "20", name], check=False, timeout=60)
            docker_engine.run(["rm", "--force", name], check=False, timeout=60)
