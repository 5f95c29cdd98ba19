"""A demo IP camera for tests and first-time users.

``DemoCamera`` runs GStreamer's RTSP server (``rtsp_server.py`` beside this
file, under Debian's ``/usr/bin/python3``) and serves a moving H.264 test
picture at ``rtsp://127.0.0.1:<port>/demo``.  Standard library only.
"""

from .camera import (
    DEBIAN_PACKAGES,
    DemoCamera,
    DemoCameraError,
    DemoCameraMissingPackages,
    DemoCameraPortInUse,
    missing_packages,
    server_script,
)

__all__ = [
    "DEBIAN_PACKAGES",
    "DemoCamera",
    "DemoCameraError",
    "DemoCameraMissingPackages",
    "DemoCameraPortInUse",
    "missing_packages",
    "server_script",
]
