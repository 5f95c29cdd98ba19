"""Where the API finds a camera's stream for the live view.

``spectare up`` knows each camera's URL and credentials from its manifests and hands
them over (``spectare.local``). A standalone API (``spectare api``, on Kubernetes) has
only the store's mirror of each Camera, whose URL is masked: it can open a camera whose
URL needs no credentials; for one with a password it knows none (see ``store_sources``).
"""

from __future__ import annotations

from spectare.api.context import StoreHolder
from spectare.live.feed import LiveInput
from spectare.live.hub import Sources
from spectare.redact import MASK


def store_sources(stores: StoreHolder) -> Sources:
    """Sources from the store's camera rows: the URL as mirrored, unless it is masked."""

    def find(camera: str) -> LiveInput | None:
        record = stores.get().get_camera(camera)
        if record is None or not record.url or MASK in record.url:
            return None
        return LiveInput(record.url)

    return find
