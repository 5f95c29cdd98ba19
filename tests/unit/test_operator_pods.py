"""Worker pods and Cameras as the operator builds and reads them (pure).

- a pod manifest is owned by its Camera, labelled, carries the spec hash and the
  settings a worker reads, and reaches credentials only as Secret references;
- without a Secret or a footage claim there are neither credential variables nor volumes;
- the spec hash changes with the spec only (a default spelled out is the same spec);
- a pod's view reads its phase, exit code, run time and why it waits;
- a Camera with an invalid spec is kept with its error, and wants no worker;
- the operator's settings default to standalone and to every namespace.
"""

from __future__ import annotations

import json

from spectare.operator.plan import camera_view
from spectare.operator.pods import (
    CAMERA_LABEL,
    MANAGED_BY,
    SPEC_HASH,
    CameraRef,
    pod_manifest,
    pod_view,
    spec_hash,
)
from unit.operator_data import NS, URL, settings, spec


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


def test_settings_defaults_are_standalone_and_namespaced_by_choice() -> None:
    ops = settings()
    assert ops.peering is None and ops.namespace is None
    assert ops.store_for_workers == ops.store
    assert settings(worker_store="rethinkdb://db:28015/s").store_for_workers.startswith("reth")
