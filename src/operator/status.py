"""Camera status from the store's row, the worker pod and the plan (pure).

The worker writes its phase (Starting, Recording, Reconnecting, Failed) and heartbeat
into the store; the operator adds what only it knows (Queued, Disabled, backoff,
the pod's own troubles) and publishes one document through ``/status``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from spectare.model import Phase
from spectare.operator.pods import PodView
from spectare.store import CameraRecord

#: Fields whose change alone does not justify an immediate status write.
VOLATILE = ("lastHeartbeat",)


@dataclass(frozen=True)
class Decision:
    """What the last pass decided for a camera."""

    kind: str  # worker | queued | disabled | backoff | invalid | error
    message: str | None = None


def iso(moment: float | None) -> str | None:
    """RFC 3339 UTC, second precision, as Kubernetes writes times."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def phase_of(
    decision: Decision, pod: PodView | None, record: CameraRecord | None
) -> tuple[Phase, str | None]:
    """The camera's phase and message."""
    if decision.kind == "disabled":
        return Phase.DISABLED, "enabled: false"
    if decision.kind == "queued":
        return Phase.QUEUED, decision.message
    if decision.kind == "invalid":
        return Phase.FAILED, decision.message
    if decision.kind in ("backoff", "error"):
        return Phase.PENDING, decision.message
    if pod is None:
        return Phase.PENDING, decision.message or "creating the worker pod"
    if pod.deleting:
        return Phase.PENDING, f"worker pod {pod.name} is stopping"
    if pod.phase == "Pending":
        if pod.waiting and not pod.waiting.startswith("ContainerCreating"):
            return Phase.PENDING, f"worker pod {pod.name}: {pod.waiting}"
        return Phase.STARTING, f"worker pod {pod.name} is starting"
    if record is not None and record.worker == pod.name:
        try:
            return Phase(record.phase), record.message
        except ValueError:
            return Phase.STARTING, record.message
    return Phase.STARTING, f"worker pod {pod.name} has not grabbed the camera yet"


def _conditions(
    phase: Phase,
    message: str | None,
    pod: PodView | None,
    previous: list[dict[str, Any]],
    now: float,
) -> list[dict[str, Any]]:
    """Recording and WorkerReady, keeping lastTransitionTime while the status holds."""
    before = {c.get("type"): c for c in previous}
    worker_ready = pod is not None and pod.phase == "Running" and not pod.deleting
    wanted = [
        ("Recording", phase is Phase.RECORDING, phase.value, message),
        ("WorkerReady", worker_ready, pod.phase if pod else "NoPod",
         f"pod {pod.name} is {pod.phase}" if pod else "no worker pod"),
    ]  # fmt: skip
    out = []
    for kind, ok, reason, text in wanted:
        status = "True" if ok else "False"
        old = before.get(kind) or {}
        since = old.get("lastTransitionTime") if old.get("status") == status else None
        out.append({"type": kind, "status": status, "reason": reason, "message": text,
                    "lastTransitionTime": since or iso(now)})  # fmt: skip
    return out


def status_document(
    generation: int,
    decision: Decision,
    pod: PodView | None,
    record: CameraRecord | None,
    previous: dict[str, Any],
    now: float,
) -> dict[str, Any]:
    """The whole ``status`` of a Camera."""
    phase, message = phase_of(decision, pod, record)
    held = record is not None and pod is not None and record.worker == pod.name
    return {
        "phase": phase.value,
        "workerPod": pod.name if pod is not None and not pod.deleting else None,
        "lastHeartbeat": iso(record.heartbeat) if held and record else previous.get(
            "lastHeartbeat"),
        "lastSegmentAt": iso(record.last_segment_at) if record else None,
        "restarts": record.restarts if record else 0,
        "message": message,
        "observedGeneration": generation,
        "conditions": _conditions(phase, message, pod, previous.get("conditions") or [], now),
    }  # fmt: skip


def needs_write(
    new: dict[str, Any],
    old: dict[str, Any],
    last_write: float | None,
    now: float,
    heartbeat_interval: float,
) -> bool:
    """Write when something a person cares about changed, or the heartbeat got old."""

    def essential(doc: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in doc.items() if k not in VOLATILE}

    if essential(new) != essential(old):
        return True
    if new.get("lastHeartbeat") == old.get("lastHeartbeat"):
        return False
    return last_write is None or now - last_write >= heartbeat_interval


# -- Kubernetes Events ----------------------------------------------------------------------

#: Phase a camera enters -> (event type, reason) worth telling a person.
PHASE_EVENTS: dict[Phase, tuple[str, str]] = {
    Phase.RECORDING: ("Normal", "Recording"),
    Phase.RECONNECTING: ("Warning", "Reconnecting"),
    Phase.FAILED: ("Warning", "Failed"),
    Phase.QUEUED: ("Normal", "Queued"),
    Phase.DISABLED: ("Normal", "Disabled"),
}


def transition_event(old: str | None, new: str, message: str | None) -> tuple[str, str, str] | None:
    """(type, reason, message) of the Event for a phase change, if it deserves one."""
    if old == new:
        return None
    kind = PHASE_EVENTS.get(Phase(new))
    if kind is None:
        return None
    return kind[0], kind[1], message or f"camera is {new}"
