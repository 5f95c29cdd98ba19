"""Cameras: list, one, latest snapshot, force-release."""

from __future__ import annotations

import contextlib

from flask import Blueprint, Response, request

from spectare.api.context import services
from spectare.api.errors import ApiError, json_response
from spectare.api.media import send_media
from spectare.api.routes.common import JPEG, NOT_FOUND, require_camera
from spectare.api.schemas import CameraList, CameraOut, Released
from spectare.api.snapshots import newest_file
from spectare.api.snapshots import snapshot as latest_picture
from spectare.api.spec import Reply, operation
from spectare.layout import resolve
from spectare.logs import get_logger

log = get_logger(__name__)
bp = Blueprint("cameras", __name__)


@operation(
    bp,
    "/api/v1/cameras",
    summary="List cameras",
    description="Every camera with its state, counters and footage summary; URLs masked.",
    tag="cameras",
    access="read",
    replies={200: Reply("The cameras, by id.", CameraList)},
)
def list_cameras() -> Response:
    """Every camera."""
    ctx = services()
    now, stale = ctx.now(), ctx.settings.stale_seconds
    cameras = ctx.store.list_cameras()
    return json_response(CameraList(items=[CameraOut.of(c, now, stale) for c in cameras]))


@operation(
    bp,
    "/api/v1/cameras/<name>",
    summary="One camera",
    tag="cameras",
    access="read",
    replies={200: Reply("The camera.", CameraOut), 404: NOT_FOUND},
)
def get_camera(name: str) -> Response:
    """One camera's state."""
    ctx = services()
    camera = ctx.store.get_camera(name)
    if camera is None:
        raise ApiError(404, f"no camera {name!r}: GET /api/v1/cameras lists the cameras")
    return json_response(CameraOut.of(camera, ctx.now(), ctx.settings.stale_seconds))


@operation(
    bp,
    "/api/v1/cameras/<name>/snapshot",
    summary="Latest snapshot",
    description="The camera's latest picture: the newest keyframe of what it is recording "
    "(or last recorded), made on demand and kept a few seconds.",
    tag="cameras",
    access="read",
    replies={
        200: Reply("The latest picture.", body=JPEG),
        304: Reply("Not modified since the ETag given in If-None-Match."),
        404: NOT_FOUND,
    },
)
def snapshot(name: str) -> Response:
    """The latest picture of a camera."""
    ctx = services()
    require_camera(ctx.store, name)
    indexed = None
    for footage in ctx.store.footage_range(name, limit=3, descending=True).items:
        with contextlib.suppress(ValueError):
            indexed = resolve(ctx.footage_root, footage.path)
        if indexed is not None and indexed.is_file():
            break  # the newest whose file retention has not removed
    source = newest_file(ctx.footage_root, name, indexed)
    path = latest_picture(ctx.settings.ffmpeg, ctx.footage_root, name, source)
    if path is None:
        raise ApiError(
            404, f"no snapshot of camera {name!r} yet: it has recorded nothing to take one from"
        )
    return send_media(path, "image/jpeg", immutable=False)


@operation(
    bp,
    "/api/v1/cameras/<name>/release",
    method="POST",
    summary="Force-release a camera",
    description="Frees a camera held by a stuck worker so that another can grab it. "
    "The old worker, if still alive, notices at its next heartbeat and exits.",
    tag="cameras",
    access="write",
    replies={200: Reply("What was released.", Released), 404: NOT_FOUND},
)
def release(name: str) -> Response:
    """Free a camera from whichever worker holds it."""
    ctx = services()
    camera = ctx.store.get_camera(name)
    if camera is None:
        raise ApiError(404, f"no camera {name!r}: GET /api/v1/cameras lists the cameras")
    released = ctx.store.release(name)
    log.info(
        "api.camera_released",
        camera=name,
        worker=camera.worker,
        released=released,
        client=request.remote_addr,
    )
    return json_response(Released(camera=name, released=released, worker=camera.worker))
