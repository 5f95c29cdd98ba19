"""The operator's settings: the shared ``Settings`` plus what only the operator needs.

Every field is ``SPECTARE_<NAME>`` in the environment, like the shared ones; this
subclass may be merged into ``spectare.settings.Settings`` later.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from spectare.envsettings import load, setting
from spectare.settings import PREFIX, Settings


@dataclass(frozen=True, kw_only=True)
class OperatorSettings(Settings):
    """Settings of ``spectare operator``."""

    # -- scope and high availability ------------------------------------------------------------
    namespace: str | None = setting(
        None,
        description="Namespace whose Cameras are served (a Role suffices); unset: all "
        "namespaces (needs a ClusterRole).",
    )
    peering: str | None = setting(
        None,
        description="HA opt-in: the KopfPeering object's name. Unset: --standalone (one replica, "
        "strategy Recreate). With peering, give every replica a distinct priority.",
    )
    priority: int | None = setting(
        None,
        description="This replica's peering priority (HA only); unset: derived from the host "
        "name, so that replicas of one Deployment differ (equal priorities all pause).",
    )
    health_host: str = setting("0.0.0.0", description="Address of /healthz and /readyz.")
    health_port: int = setting(
        8080, ge=0, le=65535, description="Port of /healthz and /readyz; 0: off."
    )

    # -- worker pods ----------------------------------------------------------------------------
    worker_image: str = setting(
        "spectare/spectare-worker:latest", description="Worker pods' image."
    )
    worker_image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = setting(
        "IfNotPresent", description="Worker pods' imagePullPolicy."
    )
    worker_command: list[str] = setting(
        factory=lambda: ["spectare", "worker"],
        description="Worker command; `--camera NAME` is appended (JSON list in the environment).",
    )
    worker_store: str | None = setting(
        None, description="Store URL handed to workers; unset: the operator's own."
    )
    worker_footage_claim: str | None = setting(
        None,
        description="PersistentVolumeClaim (NFS) mounted at footage_dir in worker pods; unset: "
        "no volume (footage stays in the pod: for tests only).",
    )
    worker_service_account: str | None = setting(
        None, description="ServiceAccount of worker pods (they need no API access)."
    )
    worker_run_as_user: int | None = setting(
        10001, description="UID of the worker process; unset: the image's user."
    )
    worker_cpu_request: str | None = setting("100m", description="CPU request per worker.")
    worker_memory_request: str | None = setting("128Mi", description="Memory request per worker.")
    worker_cpu_limit: str | None = setting(None, description="CPU limit per worker.")
    worker_memory_limit: str | None = setting("512Mi", description="Memory limit per worker.")
    worker_grace_seconds: int = setting(
        30, ge=1, description="Time a stopping worker gets to close its segment."
    )
    worker_priority_class: str | None = setting(
        None, description="priorityClassName of worker pods."
    )

    # -- loops --------------------------------------------------------------------------------
    scan_seconds: float = setting(
        5.0, gt=0, description="How often the store is read: status, stale heartbeats."
    )
    status_heartbeat_seconds: float = setting(
        60.0,
        gt=0,
        description="A status write carrying only a newer lastHeartbeat waits this long.",
    )
    status_writes_per_second: float = setting(
        50.0, gt=0, description="Ceiling on Camera status writes, all cameras together."
    )
    orphan_grace_seconds: int = setting(
        10, ge=0, description="Grace period of a pod deleted for a stale heartbeat."
    )
    api_concurrency: int = setting(
        32,
        ge=2,
        description="Most pod creates/deletes in flight at once (status writes and Events "
        "get half as many, in a lane of their own).",
    )

    @property
    def peering_priority(self) -> int:
        """The priority this replica announces (distinct per pod unless set)."""
        if self.priority is not None:
            return self.priority
        digest = hashlib.sha256(socket.gethostname().encode()).digest()
        return 1 + int.from_bytes(digest[:4], "big") % 1_000_000

    @property
    def store_for_workers(self) -> str:
        """The store URL workers get."""
        return self.worker_store or self.store

    @property
    def footage_mount(self) -> Path:
        """Where footage is mounted in worker pods."""
        return self.footage_dir


def load_operator_settings(**overrides: object) -> OperatorSettings:
    """Operator settings from ``SPECTARE_*`` environment, with explicit overrides."""
    return load(OperatorSettings, os.environ, PREFIX, overrides)
