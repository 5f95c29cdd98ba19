"""The few Kubernetes API calls the operator makes itself, async (aiohttp).

kopf watches; this module writes: pod creates and deletes, Camera ``/status`` and
Events. It authenticates with the same credentials kopf logged in with, so the
operator has one identity (its ServiceAccount) and one RBAC Role.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from spectare.model import API_VERSION, GROUP, KIND, PLURAL, VERSION


class KubeError(RuntimeError):
    """The API server refused a request."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status


@contextlib.contextmanager
def _as_file(data: str | bytes | None, path: Any) -> Iterator[str | None]:
    """A file path for certificate data while ``ssl`` reads it (it only reads files).

    Key material given inline goes into a private temporary folder that is removed as
    soon as the context has loaded it: nothing stays on disk.
    """
    if path:
        yield os.fsdecode(path)
        return
    if not data:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="spectare-kube-") as folder:  # mode 0700
        file = Path(folder) / "pem"
        file.write_bytes(data if isinstance(data, bytes) else data.encode())
        yield str(file)


class Kube:
    """A minimal async client; create with ``Kube.from_connection(info)``."""

    def __init__(self, server: str, headers: dict[str, str], ssl_context: ssl.SSLContext | bool,
                 concurrency: int = 16) -> None:  # fmt: skip
        self.server = server.rstrip("/")
        self.headers = headers
        self.ssl = ssl_context
        # Pod writes get their own lane: a burst of status writes and Events must not
        # delay the pods that make cameras record.
        self.limit = asyncio.Semaphore(max(1, concurrency // 2))
        self.pod_limit = asyncio.Semaphore(concurrency)
        self.requests = 0
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_connection(cls, info: Any, concurrency: int = 16) -> Kube:
        """From kopf's ``ConnectionInfo`` (as ``kopf.login_via_client`` returns it)."""
        context: ssl.SSLContext | bool
        if info.insecure:
            context = False
        else:
            ca = info.ca_data
            context = ssl.create_default_context(
                cafile=os.fsdecode(info.ca_path) if info.ca_path else None,
                cadata=(ca.decode() if isinstance(ca, bytes) else ca)
                if ca and not info.ca_path
                else None,
            )
            with (
                _as_file(info.certificate_data, info.certificate_path) as cert,
                _as_file(info.private_key_data, info.private_key_path) as key,
            ):
                if cert:
                    context.load_cert_chain(cert, key)
        headers = {"Accept": "application/json"}
        if info.token:
            headers["Authorization"] = f"{info.scheme or 'Bearer'} {info.token}"
        return cls(info.server, headers, context, concurrency)

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, path: str, body: Any = None,
                      content_type: str = "application/json",
                      params: dict[str, str] | None = None,
                      lane: asyncio.Semaphore | None = None) -> Any:  # fmt: skip
        """One call; the decoded answer, or KubeError."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self.headers, timeout=aiohttp.ClientTimeout(total=30),
                connector=aiohttp.TCPConnector(ssl=self.ssl, limit=64),
            )  # fmt: skip
        async with lane or self.limit:
            self.requests += 1
            async with self._session.request(
                method, self.server + path, json=body, params=params,
                headers={"Content-Type": content_type} if body is not None else None,
            ) as response:  # fmt: skip
                answer = await response.json(content_type=None)
                if response.status >= 300:
                    message = answer.get("message") if isinstance(answer, dict) else answer
                    raise KubeError(method, path, response.status, str(message))
                return answer

    # -- pods ---------------------------------------------------------------------------------

    async def create_pod(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create a pod; the created object."""
        namespace = manifest["metadata"]["namespace"]
        path = f"/api/v1/namespaces/{namespace}/pods"
        return dict(await self.request("POST", path, manifest, lane=self.pod_limit))

    async def delete_pod(self, namespace: str, name: str, grace: int | None = None) -> bool:
        """Delete a pod; False if it was gone already."""
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if grace is not None:
            body["gracePeriodSeconds"] = grace
        try:
            path = f"/api/v1/namespaces/{namespace}/pods/{name}"
            await self.request("DELETE", path, body, lane=self.pod_limit)
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def peers(self, namespace: str | None, name: str) -> dict[str, Any]:
        """The status of kopf's peering object (namespaced, else cluster-wide)."""
        path = (f"/apis/kopf.dev/v1/namespaces/{namespace}/kopfpeerings/{name}" if namespace
                else f"/apis/kopf.dev/v1/clusterkopfpeerings/{name}")  # fmt: skip
        try:
            body = await self.request("GET", path)
        except KubeError as exc:
            if exc.status == 404:
                return {}
            raise
        return dict(body.get("status") or {})

    # -- cameras ------------------------------------------------------------------------------

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> bool:
        """Merge-patch a Camera's status through ``/status``; False if the camera is gone."""
        path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}/status"
        try:
            await self.request("PATCH", path, {"status": status},
                               content_type="application/merge-patch+json")  # fmt: skip
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def post_event(self, namespace: str, name: str, uid: str, kind: str, reason: str,
                         message: str) -> None:  # fmt: skip
        """Record a Kubernetes Event on a Camera (``kubectl describe cam`` shows it)."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        event = {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{name}.{uuid.uuid4().hex[:12]}", "namespace": namespace},
            "involvedObject": {"apiVersion": API_VERSION, "kind": KIND, "name": name,
                               "namespace": namespace, "uid": uid},
            "type": kind, "reason": reason, "message": message[:1024],
            "source": {"component": "spectare-operator"},
            "reportingComponent": "spectare.io/operator", "reportingInstance": os.uname().nodename,
            "firstTimestamp": now[:19] + "Z", "lastTimestamp": now[:19] + "Z", "count": 1,
            "eventTime": None,
        }  # fmt: skip
        await self.request("POST", f"/api/v1/namespaces/{namespace}/events", event)
