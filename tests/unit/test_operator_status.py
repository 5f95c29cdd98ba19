"""Camera status and what else the operator reads (pure).

- the phase follows the decision, then the pod, then the store's row;
- the status document comes from the store's row and keeps transition times;
- status writes happen when something a person cares about changed, a heartbeat
  alone at most every interval;
- Events for phase changes people care about, none for a repeat;
- HA: only the single highest live priority leads; a priority is explicit or derived;
- the orphan monitor finds stale holds by heartbeat age.
"""

from __future__ import annotations

from typing import Any

from spectare.model import Phase
from spectare.operator.orphans import stale_holders
from spectare.operator.peering import leads
from spectare.operator.pods import PodView
from spectare.operator.status import (
    Decision,
    needs_write,
    phase_of,
    status_document,
    transition_event,
)
from spectare.store import CameraRecord
from unit.operator_data import NS, pod, settings


def record(**kw: Any) -> CameraRecord:
    return CameraRecord(id="a", **kw)


def test_phase_follows_the_decision_then_the_pod_then_the_store() -> None:
    running = pod("a", "a-1")
    held = record(worker="a-1", phase="Recording", heartbeat=10.0)
    assert phase_of(Decision("disabled"), None, None) == (Phase.DISABLED, "enabled: false")
    assert phase_of(Decision("queued", "wait"), None, None) == (Phase.QUEUED, "wait")
    assert phase_of(Decision("backoff", "b"), None, None) == (Phase.PENDING, "b")
    assert phase_of(Decision("invalid", "bad"), None, None) == (Phase.FAILED, "bad")
    assert phase_of(Decision("worker"), running, held) == (Phase.RECORDING, None)
    assert phase_of(Decision("worker"), running, record(worker="other"))[0] is Phase.STARTING
    waiting = PodView(
        "a-1",
        "u",
        NS,
        "a",
        "Pending",
        False,
        None,
        0.0,
        waiting='CreateContainerConfigError: secret "x" not found',
    )
    phase, message = phase_of(Decision("worker"), waiting, None)
    assert phase is Phase.PENDING and message is not None and "secret" in message


def test_status_document_from_the_store_row() -> None:
    running = pod("a", "a-1")
    row = record(worker="a-1", phase="Recording", heartbeat=0.0, last_segment_at=60.0, restarts=2)
    doc = status_document(4, Decision("worker"), running, row, {}, 120.0)
    assert doc["phase"] == "Recording" and doc["workerPod"] == "a-1"
    assert doc["lastHeartbeat"] == "1970-01-01T00:00:00Z"
    assert doc["lastSegmentAt"] == "1970-01-01T00:01:00Z"
    assert doc["restarts"] == 2 and doc["observedGeneration"] == 4
    conditions = {c["type"]: c for c in doc["conditions"]}
    assert conditions["Recording"]["status"] == "True"
    assert conditions["WorkerReady"]["status"] == "True"
    again = status_document(4, Decision("worker"), running, row, doc, 999.0)
    assert again["conditions"] == doc["conditions"]  # transition times kept


def test_status_writes_are_rate_limited_to_what_matters() -> None:
    old = {"phase": "Recording", "lastHeartbeat": "t1"}
    assert not needs_write(dict(old), old, 100.0, 101.0, 60)
    assert not needs_write({**old, "lastHeartbeat": "t2"}, old, 100.0, 130.0, 60)
    assert needs_write({**old, "lastHeartbeat": "t2"}, old, 100.0, 161.0, 60)
    assert needs_write({**old, "phase": "Reconnecting"}, old, 100.0, 101.0, 60)


def test_events_for_transitions_people_care_about() -> None:
    assert transition_event("Starting", "Recording", None) == (
        "Normal",
        "Recording",
        "camera is Recording",
    )
    assert transition_event("Recording", "Reconnecting", "stream ended")[:2] == (
        "Warning",
        "Reconnecting",
    )
    assert transition_event("Recording", "Recording", None) is None
    assert transition_event(None, "Starting", None) is None


def test_only_the_single_highest_live_priority_leads() -> None:
    def peer(priority: int, seen: str = "2026-01-01T00:00:50+00:00") -> dict[str, Any]:
        return {"priority": priority, "lifetime": 60, "lastseen": seen}

    now = 1767225660.0  # 2026-01-01T00:01:00Z
    assert leads({"a": peer(20), "b": peer(10)}, 20, now)
    assert not leads({"a": peer(20), "b": peer(10)}, 10, now)
    assert not leads({"a": peer(20), "b": peer(20)}, 20, now)  # a tie pauses everybody
    assert leads({"a": peer(20, "2025-12-31T23:00:00+00:00"), "b": peer(10)}, 10, now)  # dead
    assert not leads({}, 10, now)  # not registered yet


def test_peering_priority_is_explicit_or_derived() -> None:
    assert settings(peering="p", priority=7).peering_priority == 7
    derived = settings(peering="p").peering_priority
    assert derived == settings(peering="p").peering_priority and derived >= 1


def test_stale_holders_are_found_by_heartbeat_age() -> None:
    rows = [
        CameraRecord(id="fresh", worker="p1", heartbeat=95.0),
        CameraRecord(id="stale", worker="p2", heartbeat=60.0),
        CameraRecord(id="never", worker="p3", heartbeat=None),
        CameraRecord(id="free", worker=None, heartbeat=10.0),
    ]
    assert stale_holders(rows, 100.0, 30.0) == {"stale": "p2", "never": "p3"}
