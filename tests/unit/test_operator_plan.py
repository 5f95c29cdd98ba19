"""The operator's pure parts: pod manifests, views, desired-versus-actual, status documents.

Covers: a worker pod is owned, labelled and carries no secret (also without a
Secret or claim), its spec hash follows the spec only; pod and camera views
(phase, exit, waiting reason; an invalid spec kept with its error); the plan:
a pod per new camera, running pods kept and never duplicated, a pending create
counts, disabled, deleted and invalid cameras lose their pod, a stopping pod is
not deleted twice and blocks a new one, a spec change replaces the pod,
duplicates keep the oldest, max workers queue the rest in name order without
taking running workers' slots, a failed worker waits out its backoff; status:
the phase follows the decision, then the pod, then the store, rate-limited
writes, events for the transitions people care about, settings defaults; HA:
one leader (the single highest live priority), explicit or derived priorities,
stale holders found by heartbeat age.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from spectare.model import CameraSpec, Phase
from spectare.operator.config import OperatorSettings
from spectare.operator.plan import CameraView, Key, Slot, camera_view, decide
from spectare.operator.pods import (
    CAMERA_LABEL,
    MANAGED_BY,
    SPEC_HASH,
    CameraRef,
    PodView,
    pod_manifest,
    pod_view,
    spec_hash,
)
from spectare.operator.status import (
    Decision,
    needs_write,
    phase_of,
    status_document,
    transition_event,
)
from spectare.store import CameraRecord

NS = "cams"
URL = "rtsp://10.0.0.9:554/stream"


def settings(**kw: Any) -> OperatorSettings:
    return OperatorSettings(store="sqlite:////data/spectare.db", **kw)


def spec(**kw: Any) -> CameraSpec:
    return CameraSpec.model_validate({"url": URL, **kw})


def cam(name: str, enabled: bool = True, **kw: Any) -> CameraView:
    return CameraView(NS, name, f"uid-{name}", 1, spec(enabled=enabled, **kw))


def pod(
    camera: str,
    name: str | None = None,
    phase: str = "Running",
    deleting: bool = False,
    hash_of: CameraSpec | None = None,
    created: float = 0.0,
) -> PodView:
    return PodView(
        name or f"{camera}-abcde",
        f"uid-{name or camera}",
        NS,
        camera,
        phase,
        deleting,
        spec_hash(hash_of or spec()),
        created,
    )


def key(name: str) -> Key:
    return (NS, name)


# -- pod manifest ------------------------------------------------------------------------------


def test_pod_manifest_is_owned_labelled_and_carries_no_secret() -> None:
    ref = CameraRef(NS, "gate", "uid-1", spec(credentialsSecret="gate-cam", segmentSeconds=60))
    manifest = pod_manifest(ref, settings(worker_footage_claim="footage", max_workers=3))
    meta = manifest["metadata"]
    assert meta["generateName"] == "gate-" and meta["namespace"] == NS
    assert meta["labels"][MANAGED_BY] == "spectare" and meta["labels"][CAMERA_LABEL] == "gate"
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "spectare.io/v1alpha1",
            "kind": "Camera",
            "name": "gate",
            "uid": "uid-1",
            "controller": True,
        }
    ]
    assert meta["annotations"][SPEC_HASH] == spec_hash(ref.spec)
    podspec = manifest["spec"]
    assert podspec["restartPolicy"] == "Never" and podspec["automountServiceAccountToken"] is False
    container = podspec["containers"][0]
    assert container["command"] == ["spectare", "worker", "--camera", "gate"]
    env = {e["name"]: e for e in container["env"]}
    assert env["SPECTARE_STORE"]["value"] == "sqlite:////data/spectare.db"
    assert env["SPECTARE_WORKER_ID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["SPECTARE_CAMERA_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "gate-cam", "key": "password"}
    }
    assert json.loads(env["SPECTARE_CAMERA_SPEC"]["value"])["segmentSeconds"] == 60
    assert env["SPECTARE_FOOTAGE_MUST_BE_MOUNT"]["value"] == "true"
    assert podspec["volumes"][0]["persistentVolumeClaim"]["claimName"] == "footage"
    assert container["volumeMounts"][0]["mountPath"] == "footage"
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "512Mi"},
    }


def test_pod_manifest_without_secret_or_claim() -> None:
    manifest = pod_manifest(CameraRef(NS, "a", "u", spec()), settings(worker_cpu_request=None))
    container = manifest["spec"]["containers"][0]
    names = {e["name"] for e in container["env"]}
    assert "SPECTARE_CAMERA_USERNAME" not in names and "volumes" not in manifest["spec"]
    assert container["resources"]["requests"] == {"memory": "128Mi"}


def test_spec_hash_changes_with_the_spec_only() -> None:
    assert spec_hash(spec()) == spec_hash(spec(segmentSeconds=300))  # the default, spelled out
    assert spec_hash(spec()) != spec_hash(spec(segmentSeconds=60))


def test_pod_view_reads_phase_exit_and_waiting() -> None:
    body = {
        "metadata": {
            "name": "a-x",
            "uid": "u",
            "namespace": NS,
            "labels": {CAMERA_LABEL: "a"},
            "annotations": {SPEC_HASH: "h"},
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "deletionTimestamp": "2026-01-01T00:01:00Z",
        },
        "status": {
            "phase": "Failed",
            "containerStatuses": [
                {
                    "state": {
                        "terminated": {
                            "exitCode": 137,
                            "startedAt": "2026-01-01T00:00:01Z",
                            "finishedAt": "2026-01-01T00:00:31Z",
                        }
                    }
                }
            ],
        },
    }
    view = pod_view(body)
    assert (view.camera, view.phase, view.exit_code, view.spec_hash) == ("a", "Failed", 137, "h")
    assert view.deleting and view.terminal and not view.live
    assert view.finished_at is not None and view.started_at is not None
    assert view.finished_at - view.started_at == 30
    waiting = pod_view(
        {
            "metadata": {"name": "b"},
            "status": {
                "containerStatuses": [
                    {
                        "state": {
                            "waiting": {
                                "reason": "CreateContainerConfigError",
                                "message": "no secret",
                            }
                        }
                    }
                ]
            },
        }
    )
    assert waiting.phase == "Pending" and waiting.waiting == "CreateContainerConfigError: no secret"


def test_camera_view_keeps_an_invalid_spec_with_its_error() -> None:
    good = camera_view(
        {
            "metadata": {"name": "a", "namespace": NS, "uid": "u", "generation": 3},
            "spec": {"url": URL},
            "status": {"phase": "Recording"},
        }
    )
    assert good.spec is not None and good.generation == 3 and good.enabled
    assert good.status == {"phase": "Recording"}
    bad = camera_view({"metadata": {"name": "b", "namespace": NS}, "spec": {"url": "http://x"}})
    assert bad.spec is None and bad.error is not None and "spec.url" in bad.error
    assert not bad.enabled


# -- desired versus actual ---------------------------------------------------------------------


def test_new_cameras_get_a_pod_each() -> None:
    actions = decide({key("a"): cam("a"), key("b"): cam("b")}, {}, {}, 0.0, None, 60)
    assert sorted(actions.create) == [key("a"), key("b")] and not actions.delete


def test_running_pods_are_kept_and_not_duplicated() -> None:
    actions = decide({key("a"): cam("a")}, {key("a"): [pod("a")]}, {}, 0.0, None, 60)
    assert actions.create == [] and actions.delete == []


def test_a_pending_create_counts_as_a_worker() -> None:
    slots = {key("a"): Slot(pending="a-xyz", pending_since=0.0)}
    assert decide({key("a"): cam("a")}, {}, slots, 1.0, None, 60).create == []


def test_disabled_camera_loses_its_pod() -> None:
    actions = decide({key("a"): cam("a", enabled=False)}, {key("a"): [pod("a")]}, {}, 0.0, None, 60)
    assert actions.delete == [(key("a"), "a-abcde", "disabled")]
    assert actions.disabled == [key("a")] and actions.create == []


def test_deleted_camera_loses_its_pod() -> None:
    actions = decide({}, {key("gone"): [pod("gone")]}, {}, 0.0, None, 60)
    assert actions.delete == [(key("gone"), "gone-abcde", "deleted")]


def test_a_stopping_pod_is_not_deleted_again_and_blocks_a_new_one() -> None:
    actions = decide({key("a"): cam("a")}, {key("a"): [pod("a", deleting=True)]}, {}, 0.0, None, 60)
    assert actions.delete == [] and actions.create == []


def test_spec_change_replaces_the_pod() -> None:
    camera = cam("a", segmentSeconds=60)
    actions = decide({key("a"): camera}, {key("a"): [pod("a")]}, {}, 0.0, None, 60)
    assert actions.delete == [(key("a"), "a-abcde", "spec")]
    assert actions.create == []  # the new one comes once the old one is gone


def test_duplicates_keep_the_oldest() -> None:
    pods = [pod("a", "a-new", created=20.0), pod("a", "a-old", created=10.0)]
    actions = decide({key("a"): cam("a")}, {key("a"): pods}, {}, 0.0, None, 60)
    assert actions.delete == [(key("a"), "a-new", "duplicate")]


def test_max_workers_queues_the_rest_in_name_order() -> None:
    cameras = {key(n): cam(n) for n in ("a", "b", "c")}
    actions = decide(cameras, {}, {}, 0.0, 2, 60)
    assert sorted(actions.create) == [key("a"), key("b")] and actions.queued == [key("c")]


def test_running_workers_keep_their_slots_over_earlier_names() -> None:
    cameras = {key(n): cam(n) for n in ("a", "b", "c")}
    pods = {key("b"): [pod("b")], key("c"): [pod("c")]}
    actions = decide(cameras, pods, {}, 0.0, 2, 60)
    assert actions.create == [] and actions.queued == [key("a")] and actions.delete == []


def test_failed_worker_waits_out_its_backoff() -> None:
    slots = {key("a"): Slot(failures=3, ended_at=100.0)}
    early = decide({key("a"): cam("a")}, {}, slots, 101.0, None, 60)
    assert early.create == [] and early.backoff == {key("a"): pytest.approx(3.0)}
    later = decide({key("a"): cam("a")}, {}, slots, 104.5, None, 60)
    assert later.create == [key("a")]


def test_invalid_camera_gets_no_pod_and_loses_one() -> None:
    bad = CameraView(NS, "a", "u", 1, None, error="spec.url: bad")
    actions = decide({key("a"): bad}, {key("a"): [pod("a")]}, {}, 0.0, None, 60)
    assert actions.create == [] and actions.delete == [(key("a"), "a-abcde", "invalid")]


# -- status --------------------------------------------------------------------------------


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


def test_settings_defaults_are_standalone_and_namespaced_by_choice() -> None:
    ops = settings()
    assert ops.peering is None and ops.namespace is None
    assert ops.store_for_workers == ops.store
    assert settings(worker_store="rethinkdb://db:28015/s").store_for_workers.startswith("reth")


# -- HA ----------------------------------------------------------------------------------------


def test_only_the_single_highest_live_priority_leads() -> None:
    from spectare.operator.peering import leads

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
    from spectare.operator.orphans import stale_holders

    rows = [
        CameraRecord(id="fresh", worker="p1", heartbeat=95.0),
        CameraRecord(id="stale", worker="p2", heartbeat=60.0),
        CameraRecord(id="never", worker="p3", heartbeat=None),
        CameraRecord(id="free", worker=None, heartbeat=10.0),
    ]
    assert stale_holders(rows, 100.0, 30.0) == {"stale": "p2", "never": "p3"}
