"""Worker pods: the manifest built from a Camera, and what the operator reads back (pure)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from spectare.model import API_VERSION, KIND, CameraSpec
from spectare.operator.config import OperatorSettings
from spectare.supervision import env_name, worker_environment

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "spectare"
CAMERA_LABEL = "spectare.io/camera"
SPEC_HASH = "spectare.io/spec-hash"
#: Server-side filter of the Pod watch: the operator never lists other pods.
POD_SELECTOR = f"{MANAGED_BY}={MANAGER}"
CONTAINER = "worker"


def spec_json(spec: CameraSpec) -> str:
    """The spec as the worker reads it (camelCase JSON, defaults filled in)."""
    return spec.model_dump_json(by_alias=True)


def spec_hash(spec: CameraSpec) -> str:
    """Short digest of the spec: a pod whose annotation differs runs an old spec."""
    return hashlib.sha256(spec_json(spec).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CameraRef:
    """The facts about a Camera that a pod manifest needs."""

    namespace: str
    name: str
    uid: str
    spec: CameraSpec


def _env(settings: OperatorSettings, camera: CameraRef) -> list[dict[str, Any]]:
    plain = worker_environment(
        settings,
        store=settings.store_for_workers,
        footage_dir=settings.footage_mount,
        footage_must_be_mount=settings.worker_footage_claim is not None,
        camera_spec=camera.spec,
    )
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in plain.items()]
    # The pod name is the worker id, so the store's holder names the pod.
    env.append({"name": env_name("worker_id"),
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}})  # fmt: skip
    secret = camera.spec.credentials_secret
    if secret:
        # The kubelet resolves these: the operator itself never reads a Secret.
        for var, key in ((env_name("camera_username"), "username"),
                         (env_name("camera_password"), "password")):  # fmt: skip
            env.append({"name": var,
                        "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})  # fmt: skip
    return env


def _resources(settings: OperatorSettings) -> dict[str, dict[str, str]]:
    resources: dict[str, dict[str, str]] = {}
    for kind, cpu, memory in (
        ("requests", settings.worker_cpu_request, settings.worker_memory_request),
        ("limits", settings.worker_cpu_limit, settings.worker_memory_limit),
    ):
        values = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
        if values:
            resources[kind] = values
    return resources


def pod_manifest(camera: CameraRef, settings: OperatorSettings) -> dict[str, Any]:
    """The bare worker Pod of ``camera``: owned by it, labelled, its spec hash annotated."""
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": settings.worker_image,
        "imagePullPolicy": settings.worker_image_pull_policy,
        "command": [*settings.worker_command, "--camera", camera.name],
        "env": _env(settings, camera),
        "resources": _resources(settings),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,  # writes go to /footage only (measured)
        },
    }
    spec: dict[str, Any] = {
        # Bare pod: the operator, not the kubelet, decides about restarts (with backoff).
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": settings.worker_grace_seconds,
        "automountServiceAccountToken": False,  # the worker never talks to Kubernetes
        "enableServiceLinks": False,
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [container],
    }
    if settings.worker_run_as_user is not None:
        spec["securityContext"].update(
            runAsNonRoot=True,
            runAsUser=settings.worker_run_as_user,
            runAsGroup=settings.worker_run_as_user,
            fsGroup=settings.worker_run_as_user,
        )
    if settings.worker_footage_claim:
        spec["volumes"] = [{"name": "footage", "persistentVolumeClaim": {
            "claimName": settings.worker_footage_claim}}]  # fmt: skip
        container["volumeMounts"] = [{"name": "footage", "mountPath": str(settings.footage_mount)}]
    if settings.worker_service_account:
        spec["serviceAccountName"] = settings.worker_service_account
    if settings.worker_priority_class:
        spec["priorityClassName"] = settings.worker_priority_class
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": f"{camera.name}-",
            "namespace": camera.namespace,
            "labels": {MANAGED_BY: MANAGER, CAMERA_LABEL: camera.name,
                       "app.kubernetes.io/name": "spectare-worker"},
            "annotations": {SPEC_HASH: spec_hash(camera.spec)},
            "ownerReferences": [{"apiVersion": API_VERSION, "kind": KIND, "name": camera.name,
                                 "uid": camera.uid, "controller": True}],
        },
        "spec": spec,
    }  # fmt: skip


# -- reading pods back ----------------------------------------------------------------------

TERMINAL = ("Succeeded", "Failed")


@dataclass(frozen=True)
class PodView:
    """What the operator keeps of a worker pod (in the kopf index)."""

    name: str
    uid: str
    namespace: str
    camera: str
    phase: str
    deleting: bool
    spec_hash: str | None
    created: float
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    waiting: str | None = None

    @property
    def terminal(self) -> bool:
        """The container is over (restartPolicy Never): the pod will never run again."""
        return self.phase in TERMINAL

    @property
    def live(self) -> bool:
        """Runs, will run, or still stops: it occupies the camera's slot."""
        return not self.terminal


def parse_time(text: str | None) -> float | None:
    """Epoch seconds of a Kubernetes timestamp."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def pod_view(body: Any) -> PodView:
    """The operator's view of a pod body (a dict or kopf's Body)."""
    meta, status = body.get("metadata", {}), body.get("status") or {}
    started = finished = code = waiting = None
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if "running" in state:
            started = parse_time(state["running"].get("startedAt"))
        if "terminated" in state:
            term = state["terminated"]
            started = parse_time(term.get("startedAt"))
            finished = parse_time(term.get("finishedAt"))
            code = term.get("exitCode")
        if "waiting" in state:
            reason, message = state["waiting"].get("reason"), state["waiting"].get("message")
            waiting = f"{reason}: {message}" if message else reason
    return PodView(
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        namespace=meta.get("namespace", ""),
        camera=(meta.get("labels") or {}).get(CAMERA_LABEL, ""),
        phase=status.get("phase") or "Pending",
        deleting=bool(meta.get("deletionTimestamp")),
        spec_hash=(meta.get("annotations") or {}).get(SPEC_HASH),
        created=parse_time(meta.get("creationTimestamp")) or 0.0,
        started_at=started,
        finished_at=finished,
        exit_code=code,
        waiting=waiting,
    )
