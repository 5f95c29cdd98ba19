"""What the resource modules share: camera lookup and documented replies."""

from __future__ import annotations

from spectare.api.errors import ApiError
from spectare.api.schemas import Error
from spectare.api.spec import Body, Reply
from spectare.store import CameraRecord, Store

NOT_FOUND = Reply("Unknown camera or footage.", Error)
JPEG = Body({"image/jpeg": {"type": "string", "contentMediaType": "image/jpeg"}}, "A JPEG picture.")
HTML = Body({"text/html": {"type": "string"}}, "A page of the web UI.")


def require_camera(store: Store, name: str) -> CameraRecord | None:
    """The camera's row; 404 unless the camera has a row or at least some footage.

    A camera removed from the pool loses its row but keeps its footage, which stays
    browsable until retention or a person deletes it.
    """
    camera = store.get_camera(name)
    if camera is None and not store.footage_range(name, limit=1).items:
        raise ApiError(404, f"no camera {name!r}: GET /api/v1/cameras lists the cameras")
    return camera
