"""Where the local API finds each camera's stream: the manifests, credentials included."""

from __future__ import annotations

from spectare.live.feed import LiveInput
from spectare.live.hub import Sources
from spectare.manifests import Manifests
from spectare.redact import register_secret, with_credentials


def manifest_sources(manifests: Manifests) -> Sources:
    """Each enabled camera's URL with its Secret's credentials filled in, as its worker
    opens it; the password is registered so that no log line can show it."""
    inputs: dict[str, LiveInput] = {}
    for camera in manifests.cameras:
        credentials = manifests.credentials_for(camera)
        username = credentials.username if credentials else None
        password = credentials.password if credentials else None
        register_secret(password)
        url = with_credentials(camera.spec.url, username, password)
        register_secret(url)
        inputs[camera.name] = LiveInput(url, camera.spec.transport.value)
    return inputs.get
