"""A small JSON client for the test API server, and kubeconfig files for it.

``KubeHTTP`` speaks plain HTTP(S) with raw dicts, explicit patch types and
streaming watches the caller can interrupt; the test kubelet and most tests use
it instead of the generated client.  ``write_kubeconfig`` writes a
self-contained kubeconfig for a bearer token or a client certificate.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


class ApiError(Exception):
    """A non-2xx answer from the API server."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"{method} {path}: {status} {message}")
        self.status = status
        self.body = body


class KubeHTTP:
    """A small thread-safe JSON client for the API server, on plain HTTP (urllib3).

    The test kubelet uses it instead of the generated client: raw dicts, explicit
    patch types and streaming watches it can interrupt.
    """

    MERGE_PATCH = "application/merge-patch+json"
    STRATEGIC_PATCH = "application/strategic-merge-patch+json"

    def __init__(self, url: str, ca_file: Path, token: str, maxsize: int = 16) -> None:
        import urllib3

        self.url = url
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._pool = urllib3.PoolManager(
            cert_reqs="CERT_REQUIRED", ca_certs=str(ca_file), maxsize=maxsize, retries=False
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> Any:
        """Send one request; return the decoded JSON answer or raise ApiError."""
        headers = dict(self._headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        response = self._pool.request(
            method, self._full(path, query), body=data, headers=headers, timeout=timeout
        )
        decoded = _decode(response.data)
        if not 200 <= response.status < 300:
            raise ApiError(method, path, response.status, decoded)
        return decoded

    def stream(self, path: str, query: dict[str, Any], timeout: float) -> Any:
        """Open a streaming GET (a watch); the caller reads and releases the response."""
        response = self._pool.request(
            "GET",
            self._full(path, query),
            headers=self._headers,
            timeout=timeout,
            preload_content=False,
        )
        if not 200 <= response.status < 300:
            body = _decode(response.data)
            response.release_conn()
            raise ApiError("GET", path, response.status, body)
        return response

    def _full(self, path: str, query: dict[str, Any] | None) -> str:
        from urllib.parse import urlencode

        pairs = {k: v for k, v in (query or {}).items() if v not in (None, "")}
        return self.url + path + (f"?{urlencode(pairs)}" if pairs else "")


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return data.decode("utf-8", "replace")


def http_ok(url: str, ca_file: Path | None = None, token: str | None = None) -> bool:
    """True if GET ``url`` answers 200 within a second."""
    context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=1.0, context=context) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def write_kubeconfig(
    path: Path,
    server: str,
    ca_file: Path,
    user: str,
    *,
    token: str | None = None,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    namespace: str = "default",
) -> Path:
    """Write a self-contained kubeconfig (JSON, which is valid YAML); return its path.

    The user authenticates with ``token``, or with the client certificate
    ``cert_file``/``key_file`` (embedded, so the file stands alone).
    """
    credentials: dict[str, str] = {}
    if token:
        credentials["token"] = token
    if cert_file and key_file:
        credentials["client-certificate-data"] = base64.b64encode(cert_file.read_bytes()).decode()
        credentials["client-key-data"] = base64.b64encode(key_file.read_bytes()).decode()
    ca_data = base64.b64encode(ca_file.read_bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "spectare-test",
                "cluster": {"server": server, "certificate-authority-data": ca_data},
            }
        ],
        "users": [{"name": user, "user": credentials}],
        "contexts": [
            {
                "name": "spectare-test",
                "context": {"cluster": "spectare-test", "user": user, "namespace": namespace},
            }
        ],
        "current-context": "spectare-test",
    }
    path = Path(path)
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path
