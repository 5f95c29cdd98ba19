"""Where the API finds a camera's stream for the live view.

``spectare up`` knows each camera's URL and credentials from its manifests and hands
them over (``spectare.local``). A standalone API (``spectare api``, on Kubernetes) has
only the store's mirror of each Camera, whose URL is masked, and the footage volume:
it watches the camera through its worker's relay when the worker announces one there
(the worker alone has the credentials), else opens a URL that needs no credentials.
"""

from __future__ import annotations

from pathlib import Path

from spectare.api.context import StoreHolder
from spectare.live.announce import announcement_path, read_announcement
from spectare.live.feed import LiveInput
from spectare.live.hub import Sources
from spectare.redact import MASK, register_secret


def store_sources(stores: StoreHolder, root: Path) -> Sources:
    """Sources from the workers' announcements under ``root``, else the store's URLs."""

    def find(camera: str) -> LiveInput | None:
        record = stores.get().get_camera(camera)
        if record is None:
            return None
        relay = read_announcement(announcement_path(root, camera))
        if relay is not None:
            register_secret(relay.token)
            return LiveInput(relay.url, token=relay.token)
        if not record.url or MASK in record.url:
            return None
        return LiveInput(record.url)

    return find
