"""Desired versus actual (pure): which pods to create and delete, who waits and why.

- new cameras get a pod each; running pods are kept and not duplicated; a create in
  flight counts as a worker;
- a disabled, deleted or invalid camera loses its pod; a stopping pod is not deleted
  again and blocks a new one;
- a spec change replaces the pod (the new one once the old is gone); of duplicates
  the oldest stays;
- maxWorkers queues the rest in name order, running workers keeping their slots;
- a failed worker waits out its backoff.
"""

from __future__ import annotations

import pytest

from spectare.operator.plan import CameraView, Slot, decide
from unit.operator_data import NS, cam, key, pod


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
