"""Which Python runs the demo camera's server, and what the machine still lacks for it.

The server needs PyGObject and GStreamer's RTSP server, which come from
Debian packages and cannot be pip-installed into our virtualenv, so it runs
as a child process under Debian's ``/usr/bin/python3`` (override with
``SPECTARE_GST_PYTHON``). Standard library only, like the rest of the demo.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from .rtsp_options import EXIT_MISSING

#: What a Debian/Ubuntu machine needs for the demo camera.
DEBIAN_PACKAGES: tuple[str, ...] = (
    "python3-gi",
    "gir1.2-gst-rtsp-server-1.0",
    "gstreamer1.0-plugins-base",
    "gstreamer1.0-plugins-good",
    "gstreamer1.0-plugins-bad",
    "gstreamer1.0-plugins-ugly",
    "gstreamer1.0-x",
)

#: Debian's interpreter, the one that sees the python3-gi package.
DEFAULT_GST_PYTHON = "/usr/bin/python3"

#: Environment variable naming another interpreter that can import ``gi``.
GST_PYTHON_ENV = "SPECTARE_GST_PYTHON"


class DemoCameraError(RuntimeError):
    """The demo camera could not be started or did not behave."""


class DemoCameraPortInUse(DemoCameraError):
    """The demo camera's port is taken by another program."""


class DemoCameraMissingPackages(DemoCameraError):
    """The interpreter, PyGObject or a GStreamer element is not installed."""

    def __init__(self, message: str, packages: Sequence[str]) -> None:
        super().__init__(message)
        self.packages: tuple[str, ...] = tuple(packages)


def server_script() -> Path:
    """Path of the GStreamer side, run by file path (it is not imported)."""
    return Path(__file__).with_name("rtsp_server.py")


def gst_python() -> str:
    """The interpreter that runs the server: ``$SPECTARE_GST_PYTHON`` or Debian's."""
    return os.environ.get(GST_PYTHON_ENV) or DEFAULT_GST_PYTHON


def install_hint(packages: Sequence[str]) -> str:
    """What to install (or point at) so that the demo camera runs."""
    return (
        f"the demo camera needs Debian's GStreamer RTSP server and PyGObject: "
        f"apt-get install {' '.join(packages)}"
        f" (or point {GST_PYTHON_ENV} at a Python 3 that can import gi and "
        f"gi.repository.GstRtspServer)"
    )


def missing_from_log(text: str) -> list[str]:
    """The packages of the server's last ``MISSING-PACKAGES:`` line in ``text``."""
    for line in reversed(text.splitlines()):
        if line.startswith("MISSING-PACKAGES:"):
            return line.split(":", 1)[1].split()
    return []


def server_env() -> dict[str, str]:
    """Our environment without what would point Debian's Python at our virtualenv."""
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__"):
        env.pop(name, None)
    return env


def missing_packages(python: str | None = None, timeout: float = 30.0) -> list[str]:
    """Debian packages the demo camera still lacks here; empty when it can run.

    Runs the server with ``--check`` (imports gi, looks up every element), so
    the answer is exactly what ``start()`` would hit.
    """
    interpreter = python or gst_python()
    try:
        done = subprocess.run(
            [interpreter, "-I", str(server_script()), "--check"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=server_env(),
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        return ["python3", *DEBIAN_PACKAGES]
    if done.returncode == 0:
        return []
    packages = missing_from_log(done.stderr.decode("utf-8", "replace"))
    return packages or list(DEBIAN_PACKAGES)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server in the foreground with the given options (a CLI helper).

    ``python -m spectare.demo.camera --port 8554 --path /demo`` — the same
    options as ``rtsp_server.py``; missing packages produce a short hint.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        done = subprocess.run(
            [gst_python(), "-I", str(server_script()), *args], env=server_env(), check=False
        )
    except FileNotFoundError:
        print(install_hint(["python3", *DEBIAN_PACKAGES]), file=sys.stderr)
        return EXIT_MISSING
    except KeyboardInterrupt:
        return 130
    return done.returncode
