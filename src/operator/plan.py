"""Desired versus actual (pure): Cameras and worker pods in, pod creates and deletes out.

The decision which cameras get a worker is ``spectare.planning.plan_workers``, the
same function the local pool uses; this module only maps Kubernetes facts onto its
inputs and its Plan onto pod operations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from spectare.model import CameraSpec
from spectare.operator.pods import PodView, spec_hash
from spectare.planning import Wanted, WorkerState, plan_workers
from spectare.store import CameraInfo
from spectare.supervision import camera_info

Key = tuple[str, str]  # (namespace, camera name)


@dataclass(frozen=True)
class CameraView:
    """What the operator keeps of a Camera (in the kopf index)."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: CameraSpec | None
    error: str | None = None
    deleting: bool = False
    #: The status as stored, so that a restarted operator rewrites nothing that holds.
    status: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> Key:
        """(namespace, name)."""
        return (self.namespace, self.name)

    @property
    def enabled(self) -> bool:
        """Wants a worker: enabled, valid and not being deleted."""
        return self.spec is not None and self.spec.enabled and not self.deleting

    @cached_property
    def spec_hash(self) -> str | None:
        """Digest of the spec the worker should run (computed once: the view lives in
        kopf's index until the Camera changes, and every pass asks)."""
        return spec_hash(self.spec) if self.spec is not None else None

    @cached_property
    def store_info(self) -> CameraInfo | None:
        """The store row's spec part (masked URL); None for an invalid spec."""
        return None if self.spec is None else camera_info(self.name, self.spec)


def camera_view(body: Any) -> CameraView:
    """The operator's view of a Camera body; an invalid spec is kept with its error."""
    meta = body.get("metadata", {})
    spec: CameraSpec | None = None
    error = None
    try:
        spec = CameraSpec.model_validate(dict(body.get("spec") or {}))
    except ValidationError as exc:
        error = "; ".join(
            f"spec.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
    return CameraView(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        generation=int(meta.get("generation") or 0),
        spec=spec,
        error=error,
        deleting=bool(meta.get("deletionTimestamp")),
        status=dict(body.get("status") or {}),
    )


@dataclass(frozen=True)
class Slot:
    """The operator's memory of a camera's worker between passes."""

    failures: int = 0
    ended_at: float | None = None
    #: The pod is created but not yet in the index (its watch event is on the way).
    pending: str | None = None
    pending_since: float = 0.0
    #: How the last worker ended, for the status message during backoff.
    last: str | None = None


@dataclass
class Actions:
    """What one pass does."""

    create: list[Key] = field(default_factory=list)
    #: (key, pod name, why) — why is "stop", "disabled", "deleted", "spec", "duplicate"...
    delete: list[tuple[Key, str, str]] = field(default_factory=list)
    queued: list[Key] = field(default_factory=list)
    disabled: list[Key] = field(default_factory=list)
    backoff: dict[Key, float] = field(default_factory=dict)


def _label(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


def decide(
    cameras: Mapping[Key, CameraView],
    pods: Mapping[Key, Sequence[PodView]],
    slots: Mapping[Key, Slot],
    now: float,
    max_workers: int | None,
    backoff_cap: float,
) -> Actions:
    """The pod operations that move the cluster towards one worker per enabled camera.

    Terminal pods are not handled here (the caller records them as failures and
    deletes them first); every pod passed in is live.
    """
    by_label = {_label(k): k for k in {*cameras, *pods}}
    wanted = [Wanted(_label(k), c.enabled) for k, c in cameras.items() if c.spec is not None]
    states: dict[str, WorkerState] = {}
    for key in by_label.values():
        live = [p for p in pods.get(key, ()) if p.live]
        slot = slots.get(key, Slot())
        alive = bool(live) or slot.pending is not None
        if alive or slot.ended_at is not None:
            states[_label(key)] = WorkerState(alive, slot.failures, slot.ended_at)
    plan = plan_workers(wanted, states, now, max_workers, backoff_cap)
    actions = Actions()
    for label in plan.stop:
        key = by_label[label]
        camera = cameras.get(key)
        why = (
            "deleted"
            if camera is None or camera.deleting
            else "invalid"
            if camera.spec is None
            else "disabled"
            if not camera.enabled
            else "queued"
        )
        actions.delete += [(key, p.name, why) for p in pods.get(key, ()) if not p.deleting]
    for label in plan.keep:
        key = by_label[label]
        actions.delete += _replacements(cameras[key], pods.get(key, ()))
    for label in plan.start:
        key = by_label[label]
        if not pods.get(key) and slots.get(key, Slot()).pending is None:
            actions.create.append(key)
    actions.queued = [by_label[n] for n in plan.queued]
    actions.disabled = [by_label[n] for n in plan.disabled]
    actions.backoff = {by_label[n]: wait for n, wait in plan.backoff.items()}
    return actions


def _replacements(camera: CameraView, pods: Sequence[PodView]) -> list[tuple[Any, str, str]]:
    """Pods to delete although the camera keeps its worker: extras and outdated specs."""
    running = sorted((p for p in pods if not p.deleting), key=lambda p: (p.created, p.name))
    if any(p.deleting for p in pods):
        # One is stopping already; the keepers wait for it, extras still go.
        return [(camera.key, p.name, "duplicate") for p in running[1:]]
    out = [(camera.key, p.name, "duplicate") for p in running[1:]]
    if running and running[0].spec_hash != camera.spec_hash:
        out.append((camera.key, running[0].name, "spec"))
    return out
