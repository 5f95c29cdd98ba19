"""Supervision rules shared by the local pool and the operator (pure)."""

from __future__ import annotations

import pytest

from spectare.camera import CameraSpecView
from spectare.local.pool import worker_env
from spectare.manifests import Manifests
from spectare.model import Camera
from spectare.operator.config import OperatorSettings
from spectare.operator.pods import CameraRef, pod_manifest
from spectare.settings import Settings, load_settings
from spectare.supervision import (
    HEALTHY_SECONDS,
    env_name,
    failures_after,
    recorded_since,
    worker_environment,
)

CAMERA = Camera.model_validate(
    {"apiVersion": "spectare.io/v1alpha1", "kind": "Camera", "metadata": {"name": "gate"},
     "spec": {"url": "rtsp://127.0.0.1:8554/gate", "segmentSeconds": 10}}
)  # fmt: skip


def test_every_variable_is_a_setting_the_worker_reads_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(store="sqlite:////data/s.db", stall_seconds=7, container="ts")
    env = worker_environment(settings, worker_id="w-1", camera_spec=CAMERA.spec)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    back = load_settings()
    assert back.store == "sqlite:////data/s.db" and back.stall_seconds == 7
    assert back.container == "ts" and back.worker_id == "w-1"
    assert back.camera_spec == CameraSpecView(url=CAMERA.spec.url, segment_seconds=10)


def test_a_misspelt_setting_fails_loudly() -> None:
    with pytest.raises(KeyError, match="stall_secs"):
        worker_environment(Settings(), stall_secs=3)
    with pytest.raises(KeyError):
        env_name("camera_pasword")


def test_the_pool_and_the_operator_give_workers_the_same_settings() -> None:
    local = worker_env(Settings(), Manifests(cameras=[CAMERA]), CAMERA)
    pod = pod_manifest(CameraRef("ns", "gate", "uid-1", CAMERA.spec), OperatorSettings())
    in_pod = {e["name"] for e in pod["spec"]["containers"][0]["env"]}
    shared = {k for k in local if k.startswith("SPECTARE_")} - {"SPECTARE_FOOTAGE_MUST_BE_MOUNT"}
    assert shared - in_pod == set()
    assert "SPECTARE_STALL_SECONDS" in in_pod


@pytest.mark.parametrize(
    ("failures", "ran", "recorded", "after"),
    [
        (3, 5.0, True, 0),  # it recorded: replaced at once, however short its life
        (3, HEALTHY_SECONDS, False, 0),  # long segments: a long run counts as healthy
        (0, 5.0, False, 1),  # never got going: backoff starts
        (4, 5.0, False, 5),
    ],
)
def test_backoff_is_for_workers_that_never_get_going(
    failures: int, ran: float, recorded: bool, after: int
) -> None:
    assert failures_after(failures, ran, recorded) == after


def test_recorded_means_a_segment_ended_after_the_worker_started() -> None:
    assert recorded_since(105.0, started_at=100.0)
    assert not recorded_since(95.0, started_at=100.0)
    assert not recorded_since(None, started_at=100.0)
