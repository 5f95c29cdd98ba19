"""kopf registrations, thin: indices, wake-ups, login, startup and cleanup.

Every decision lives in ``machine`` and the pure modules it composes; every write in
``act`` and ``kube``; the loop in ``pool``. Handler state lives in kopf's ``memo``:
``run()`` puts the settings there, ``startup`` the pool. Nothing here is a timer or a
daemon (they would put a finalizer on each pod), and nothing is a change handler
(nothing to persist).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import os
from collections.abc import Mapping
from typing import Any

import kopf

from spectare.logs import get_logger
from spectare.model import GROUP, PLURAL, VERSION
from spectare.operator.config import OperatorSettings
from spectare.operator.kube import Kube
from spectare.operator.plan import CameraView, Key, camera_view
from spectare.operator.pods import (
    CAMERA_LABEL,
    MANAGED_BY,
    MANAGER,
    POD_SELECTOR,
    PodView,
    pod_view,
)
from spectare.operator.pool import Pool
from spectare.store import open_store

log = get_logger(__name__)
PREFIX = "spectare.io"
POD_LABELS: dict[str, Any] = {  # kopf does not export its filter token type
    MANAGED_BY: MANAGER,
    CAMERA_LABEL: kopf.PRESENT,
}


@kopf.index(GROUP, VERSION, PLURAL)
def cameras(body: kopf.Body, **_: Any) -> dict[Key, CameraView]:
    """Cameras by (namespace, name)."""
    view = camera_view(body)
    return {view.key: view}


@kopf.index("v1", "pods", labels=POD_LABELS)
def camera_pods(body: kopf.Body, **_: Any) -> dict[Key, PodView]:
    """Worker pods by (namespace, camera)."""
    view = pod_view(body)
    return {(view.namespace, view.camera): view}


@kopf.on.event(GROUP, VERSION, PLURAL)
def camera_changed(memo: kopf.Memo, **kwargs: Any) -> None:
    """Any Camera event: wake the pool manager (it reads the indices whole)."""
    _wake(memo, kwargs["cameras"], kwargs["camera_pods"])


@kopf.on.event("v1", "pods", labels=POD_LABELS)
def pod_changed(memo: kopf.Memo, **kwargs: Any) -> None:
    """Any worker pod event: wake the pool manager."""
    _wake(memo, kwargs["cameras"], kwargs["camera_pods"])


def _wake(
    memo: kopf.Memo, cams: kopf.Index[Key, CameraView], pods: kopf.Index[Key, PodView]
) -> None:
    pool: Pool | None = memo.get("pool")
    if pool is not None:
        pool.bind(cams, pods)
        pool.touch()


def in_cluster_server(environ: Mapping[str, str]) -> str | None:
    """The API server's address as the kubelet tells every pod, if it does."""
    host, port = environ.get("KUBERNETES_SERVICE_HOST"), environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        return None
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def _client_installed() -> bool:
    """Whether the optional ``kubernetes`` client is installed (not in the images)."""
    return importlib.util.find_spec("kubernetes") is not None


@kopf.on.login()
def login(memo: kopf.Memo, **kwargs: Any) -> kopf.ConnectionInfo | None:
    """kopf's usual login; the operator's own writes reuse the same identity.

    In a pod, kopf's own ServiceAccount login; outside, kopf's own kubeconfig login. The
    ``kubernetes`` client (126 MB installed, kept out of the control image) is used when
    it is installed, for kubeconfigs with exec or auth-provider plugins.
    """
    if _client_installed():
        info = kopf.login_via_client(**kwargs)
    else:
        info = kopf.login_with_service_account(**kwargs)
        server = in_cluster_server(os.environ)
        if info is not None and server is not None:
            # kopf names the API server kubernetes.default.svc, which needs cluster DNS;
            # the address the kubelet gives every pod does not (client-go uses it too).
            info = dataclasses.replace(info, server=server)
        info = info or kopf.login_with_kubeconfig(**kwargs)
    pool: Pool | None = memo.get("pool")
    if info is not None and pool is not None:
        # Also on re-login (a rotated token): later writes use the new credentials.
        pool.connect(Kube.from_connection(info, pool.settings.api_concurrency))
    return info


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Configure kopf once (prefixes, server-side pod filter) and start the pool manager."""
    ours: OperatorSettings | None = memo.get("settings")
    assert ours is not None, "use spectare.operator.run()"
    # Set before the first release and never changed (changing re-runs handlers).
    settings.persistence.finalizer = f"{PREFIX}/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=PREFIX, key="last-handled-configuration"
    )
    # Server-side filtering: the operator never lists every pod in the namespace.
    settings.watching.label_selectors["v1", "pods"] = POD_SELECTOR
    # A namespaced operator has a Role only: no cluster-wide CRD or namespace watching.
    settings.scanning.disabled = ours.namespace is not None
    settings.posting.level = 40  # kopf's own Events only for errors; ours are explicit
    store = await asyncio.to_thread(open_store, ours.store, deadline=ours.store_deadline_seconds)
    memo.pool = pool = Pool(ours, store)
    await pool.start()
    log.info("operator.started", namespace=ours.namespace or "*", standalone=ours.peering is None,
             max_workers=ours.max_workers)  # fmt: skip


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    """Stop the pool manager; worker pods keep recording while the operator is away."""
    pool: Pool | None = memo.get("pool")
    if pool is not None:
        await pool.stop()
    log.info("operator.stopped")
