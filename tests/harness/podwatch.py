"""List and watch the pods of one namespace, as an informer does, for the test kubelet.

``PodWatch.relist()`` lists the pods and hands them over (``on_list``);
``run()`` then watches from the list's resourceVersion and hands over each
event (``on_event``), relisting when the watch expires (410) or fails, until
``stop()``. Bookmarks only move the resourceVersion on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from harness.kubeclient import KubeHTTP

log = logging.getLogger("spectare.harness.kubelet")

WATCH_TIMEOUT_SECONDS = 60

Pod = dict[str, Any]


class _Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): relist."""


class PodWatch:
    """The pods of ``namespace`` matching ``label_selector``, listed then watched."""

    def __init__(
        self,
        api: KubeHTTP,
        namespace: str,
        label_selector: str,
        on_list: Callable[[list[Pod]], None],
        on_event: Callable[[str, Pod], None],
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.label_selector = label_selector
        self.on_list = on_list
        self.on_event = on_event
        self.stopping = threading.Event()
        self._response: Any = None

    @property
    def path(self) -> str:
        """The API path of the namespace's pods."""
        return f"/api/v1/namespaces/{self.namespace}/pods"

    def relist(self) -> str:
        """List the pods and hand them to ``on_list``; return the list's resourceVersion."""
        listing = self.api.request("GET", self.path, query={"labelSelector": self.label_selector})
        self.on_list(list(listing["items"]))
        return str(listing["metadata"]["resourceVersion"])

    def run(self, resource_version: str) -> None:
        """Watch until stop(), relisting after an expired or failed watch."""
        while not self.stopping.is_set():
            try:
                resource_version = self._watch_once(resource_version)
            except _Expired:
                resource_version = self._relist_quietly(resource_version)
            except Exception as exc:
                if self.stopping.is_set():
                    return
                log.warning(
                    "pod watch failed, relisting namespace=%s error=%r", self.namespace, exc
                )
                self.stopping.wait(0.5)
                resource_version = self._relist_quietly(resource_version)

    def stop(self) -> None:
        """End run(): unblock a watch waiting for its next event."""
        self.stopping.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()

    def _relist_quietly(self, resource_version: str) -> str:
        try:
            return self.relist()
        except Exception as exc:
            log.warning("relist failed namespace=%s error=%r", self.namespace, exc)
            return resource_version

    def _watch_once(self, resource_version: str) -> str:
        """One watch request; return the last resourceVersion seen."""
        response = self.api.stream(
            self.path,
            {
                "labelSelector": self.label_selector,
                "watch": "true",
                "resourceVersion": resource_version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": WATCH_TIMEOUT_SECONDS,
            },
            timeout=WATCH_TIMEOUT_SECONDS + 30,
        )
        self._response = response
        try:
            if self.stopping.is_set():
                return resource_version
            for event in _events(response):
                kind, obj = event["type"], event["object"]
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _Expired()
                    raise RuntimeError(f"watch error: {obj}")
                resource_version = obj["metadata"]["resourceVersion"]
                if kind != "BOOKMARK":
                    self.on_event(kind, obj)
        finally:
            self._response = None
            response.release_conn()
        return resource_version


def _events(response: Any) -> Iterator[dict[str, Any]]:
    """Yield decoded watch events from a streaming response, one JSON object per line."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=True):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)
