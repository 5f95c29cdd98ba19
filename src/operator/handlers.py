"""kopf registrations, thin: indices, wake-ups, login, startup and cleanup.

Every decision lives in ``plan``, ``pods`` and ``status`` (pure); every write in
``reconciler`` and ``kube``. Nothing here is a timer or a daemon (they would put a
finalizer on each pod), and nothing is a change handler (nothing to persist).
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
from spectare.operator import health
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
from spectare.operator.reconciler import Reconciler
from spectare.store import open_store

log = get_logger(__name__)
PREFIX = "spectare.io"
POD_LABELS: dict[str, Any] = {  # kopf does not export its filter token type
    MANAGED_BY: MANAGER,
    CAMERA_LABEL: kopf.PRESENT,
}


class Runtime:
    """What the handlers share: settings (set before kopf starts) and the reconciler."""

    settings: OperatorSettings | None = None
    reconciler: Reconciler | None = None
    task: asyncio.Task[None] | None = None
    server: Any = None


RUNTIME = Runtime()


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
def camera_changed(**kwargs: Any) -> None:
    """Any Camera event: wake the pool manager (it reads the indices whole)."""
    _wake(kwargs["cameras"], kwargs["camera_pods"])


@kopf.on.event("v1", "pods", labels=POD_LABELS)
def pod_changed(**kwargs: Any) -> None:
    """Any worker pod event: wake the pool manager."""
    _wake(kwargs["cameras"], kwargs["camera_pods"])


def _wake(cams: kopf.Index[Key, CameraView], pods: kopf.Index[Key, PodView]) -> None:
    rec = RUNTIME.reconciler
    if rec is not None:
        if rec.cameras_index is None:
            rec.bind(cams, pods)
        rec.touch()


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
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
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
    rec = RUNTIME.reconciler
    if info is not None and rec is not None:
        # Also on re-login (a rotated token): later writes use the new credentials.
        assert RUNTIME.settings is not None
        rec.connect(Kube.from_connection(info, RUNTIME.settings.api_concurrency))
    return info


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Configure kopf once (prefixes, server-side pod filter) and start the pool manager."""
    ours = RUNTIME.settings
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
    rec = Reconciler(ours, store)
    RUNTIME.reconciler = rec
    RUNTIME.task = asyncio.create_task(rec.run(), name="spectare-pool")
    if ours.health_port:
        RUNTIME.server = await health.serve(rec, ours.health_host, ours.health_port)
    log.info("operator.started", namespace=ours.namespace or "*", standalone=ours.peering is None,
             max_workers=ours.max_workers)  # fmt: skip


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    """Stop the pool manager; worker pods keep recording while the operator is away."""
    rec, task = RUNTIME.reconciler, RUNTIME.task
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    if RUNTIME.server is not None:
        await RUNTIME.server.cleanup()
    if rec is not None:
        await rec.drain()
        await rec.writer.drain()
        if rec.kube is not None:
            await rec.kube.close()
        rec.close()
        await asyncio.to_thread(rec.store.close)
    log.info("operator.stopped")
