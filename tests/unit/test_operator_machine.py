"""The operator's state machine on plain data and a virtual clock: the healthy paths.

- a pass leaves the ledger it was given unchanged, and the new ledger is read-only;
- a new Camera gets one CreatePod (none more while the create is in flight or the
  pod is on its way) and its spec mirrored into the store once;
- the created pod is remembered as live; its status is written once per change,
  with an Event for a phase a person cares about;
- no more status writes are out at once than a second's worth: the rest are
  computed at a later pass, fresh; while pods are being created, statuses wait;
- maxWorkers queues the rest: Queued is published to the store once and written to
  the Camera's status; a freed slot goes to the queued camera;
- a disabled Camera loses its pod without counting a failure, and shows Disabled;
- a deleted Camera loses its pod and its store row; its memory goes with its last pod;
- a spec change replaces the pod, with a SpecChanged Event once the delete succeeded;
- a failed mirror write is made again; a delete in flight is not repeated;
- a restarted operator repeats no Event for the phase a Camera already shows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import pytest

from spectare.operator.effects import (
    CreatePod,
    DeletePod,
    Outcome,
    PostEvent,
    RemoveCamera,
    SetPhase,
    UpsertCamera,
    WriteStatus,
)
from spectare.operator.ledger import World
from spectare.operator.machine import CREATING, step
from spectare.operator.plan import Slot
from spectare.store import CameraRecord
from unit.operator_data import Operator, cam, key, of, pod

QUEUED = "waiting for a free worker slot (maxWorkers=2)"


def started(op: Operator, name: str, pod_name: str, phase: str = "Running") -> None:
    """Create ``name``'s pod the way the API server would and let a pass see it."""
    creates = [c for c in of(op.step(), CreatePod) if c.key == key(name)]
    assert len(creates) == 1
    op.step(Outcome(creates[0], True, pod_name, op.now))
    op.pods[key(name)] = [pod(name, pod_name, phase=phase)]


def test_a_pass_leaves_its_ledger_as_it_was_and_returns_a_read_only_one() -> None:
    op = Operator()
    op.add(cam("a"))
    before = op.ledger
    world = World(op.now, dict(op.cameras), {})
    first, effects = step(before, world, op.settings)
    again, effects_again = step(before, world, op.settings)
    assert before.slots == {} and before.uids == {}  # untouched
    assert first == again and effects == effects_again  # same inputs, same answer
    assert first.slots[key("a")] == Slot(pending=CREATING, pending_since=float("inf"))
    with pytest.raises(TypeError):
        first.slots[key("b")] = Slot()  # type: ignore[index]


def test_a_new_camera_gets_one_pod_and_one_mirror_row() -> None:
    op = Operator()
    op.add(cam("a", displayName="Gate"))

    effects = op.step()

    (create,) = of(effects, CreatePod)
    assert create.key == key("a") and create.ref.uid == "uid-a" and not create.replacing
    (upsert,) = of(effects, UpsertCamera)
    assert (upsert.info.id, upsert.info.display_name) == ("a", "Gate")
    assert not of(effects, WriteStatus)  # its pod is on the way: one write, not two
    again = op.step()
    assert not of(again, CreatePod) and not of(again, UpsertCamera)
    op.step(Outcome(create, True, "a-1", op.now))
    assert op.ledger.slots[key("a")].pending == "a-1"
    assert not of(op.step(after=10), CreatePod)  # the pod is still on its way


def test_the_pod_is_remembered_and_its_status_written_once_per_change() -> None:
    op = Operator()
    op.add(cam("a"))
    started(op, "a", "a-1", phase="Pending")

    effects = op.step()

    assert op.ledger.seen[key("a")] == {"uid-a-1": "live"}
    assert op.ledger.slots[key("a")].pending is None
    (write,) = of(effects, WriteStatus)
    assert write.doc["phase"] == "Starting" and write.doc["workerPod"] == "a-1"
    assert not of(op.step(), WriteStatus)  # in flight: not again
    assert not of(op.step(Outcome(write, True, at=op.now)), WriteStatus)  # written: holds
    assert op.ledger.written[key("a")][0]["phase"] == "Starting"

    op.pods[key("a")] = [pod("a", "a-1")]
    row = CameraRecord(id="a", worker="a-1", phase="Recording", heartbeat=op.now)
    (write,) = of(op.step(scan=[row]), WriteStatus)
    assert write.doc["phase"] == "Recording"
    effects = op.step(Outcome(write, True, at=op.now))
    assert PostEvent(key("a"), "uid-a", "Normal", "Recording", "camera is Recording") in effects


def test_max_workers_queues_the_rest_and_publishes_queued_once() -> None:
    op = Operator(max_workers=2)
    op.add(cam("a"), cam("b"), cam("c"))

    effects = op.step(scan=[CameraRecord(id=n) for n in "abc"])

    creates = of(effects, CreatePod)
    assert sorted(c.key for c in creates) == [key("a"), key("b")]
    assert of(effects, SetPhase) == [SetPhase("c", "Queued", QUEUED)]
    assert not of(effects, WriteStatus)  # pods first: statuses wait for the creates
    effects = op.step(*(Outcome(c, True, f"{c.key[1]}-1", op.now) for c in creates))
    (write,) = of(effects, WriteStatus)  # a and b have pods on the way
    assert write.key == key("c") and write.doc["phase"] == "Queued"
    assert write.doc["message"] == QUEUED
    effects = op.step(Outcome(write, True, at=op.now))
    assert not of(effects, SetPhase)  # published once
    assert PostEvent(key("c"), "uid-c", "Normal", "Queued", QUEUED) in effects


def test_a_freed_slot_goes_to_the_queued_camera() -> None:
    op = Operator(max_workers=2)
    op.add(cam("a"), cam("b"), cam("c"))
    creates = of(op.step(), CreatePod)
    op.step(*(Outcome(c, True, f"{c.key[1]}-1", op.now) for c in creates))
    op.pods = {key(n): [pod(n, f"{n}-1")] for n in "ab"}
    op.step()

    del op.cameras[key("a")]
    effects = op.step()

    assert DeletePod(key("a"), "a-1", "deleted") in effects
    assert RemoveCamera("a") in effects
    (create,) = of(effects, CreatePod)  # a stopping worker holds no slot
    assert create.key == key("c")
    op.pods[key("a")] = [pod("a", "a-1", deleting=True)]
    assert not of(op.step(), CreatePod)
    del op.pods[key("a")]
    op.step()
    assert key("a") not in op.ledger.slots and key("a") not in op.ledger.seen
    assert key("a") not in op.ledger.uids


def test_a_disabled_camera_loses_its_pod_without_a_failure() -> None:
    op = Operator()
    op.add(cam("a"))
    started(op, "a", "a-1")
    op.step(scan=[CameraRecord(id="a", worker="a-1", phase="Recording")])

    op.add(cam("a", enabled=False))
    effects = op.step()

    assert DeletePod(key("a"), "a-1", "disabled") in effects
    assert SetPhase("a", "Disabled", "enabled: false") in effects
    assert op.ledger.seen[key("a")] == {"uid-a-1": "stopping"}
    op.pods[key("a")] = [pod("a", "a-1", phase="Succeeded", deleting=True)]
    effects = op.step()
    assert not [e for e in of(effects, PostEvent) if e.reason == "WorkerFailed"]
    assert op.ledger.slots[key("a")].failures == 0


def test_a_spec_change_replaces_the_pod_and_says_so_once_deleted() -> None:
    op = Operator()
    op.add(cam("a"))
    started(op, "a", "a-1")
    op.step()

    op.add(cam("a", segmentSeconds=60))
    effects = op.step()

    (delete,) = of(effects, DeletePod)
    assert (delete.name, delete.why) == ("a-1", "spec")
    assert of(effects, UpsertCamera)[0].info.segment_seconds == 60
    assert not of(op.step(), DeletePod)  # in flight: not repeated
    effects = op.step(Outcome(delete, True, at=op.now))
    message = "replacing a-1 for the new spec"
    assert PostEvent(key("a"), "uid-a", "Normal", "SpecChanged", message) in effects
    assert of(effects, DeletePod) == [delete]  # answered, still listed: asked again


def test_a_failed_mirror_write_is_made_again() -> None:
    op = Operator()
    op.add(cam("a"))
    (upsert,) = of(op.step(), UpsertCamera)

    effects = op.step(Outcome(upsert, False, "store away", op.now))

    assert of(effects, UpsertCamera) == [upsert]
    assert not of(op.step(), UpsertCamera)


def test_a_row_without_a_camera_is_forgotten() -> None:
    op = Operator()
    effects = op.step(scan=[CameraRecord(id="old")])
    assert RemoveCamera("old") in effects
    assert "old" not in op.ledger.records


def test_a_restarted_operator_repeats_no_event_for_the_phase_shown() -> None:
    op = Operator()
    written = {"phase": "Queued", "message": QUEUED, "observedGeneration": 1, "restarts": 0,
               "conditions": []}  # fmt: skip
    op.add(replace(cam("c"), status=written), cam("a"), cam("b"))
    op.settings = dataclasses.replace(op.settings, max_workers=2)
    creates = of(op.step(), CreatePod)
    effects = op.step(*(Outcome(c, True, f"{c.key[1]}-1", op.now) for c in creates))
    writes = [w for w in of(effects, WriteStatus) if w.key == key("c")]
    assert writes and writes[0].old["phase"] == "Queued"
    assert not [e for e in of(op.step(Outcome(writes[0], True, at=op.now)), PostEvent)
                if e.reason == "Queued"]  # fmt: skip


def test_status_writes_out_at_once_are_capped_and_the_rest_computed_later() -> None:
    op = Operator(status_writes_per_second=2)
    op.add(*(cam(n, enabled=False) for n in "abc"))

    first = of(op.step(), WriteStatus)

    assert [w.key for w in first] == [key("a"), key("b")]  # c waits: no stale document
    assert not of(op.step(), WriteStatus)  # both still out
    op.add(cam("d"))
    effects = op.step(Outcome(first[0], True, at=op.now))  # a is back, d is new
    (create,) = of(effects, CreatePod)
    assert not of(effects, WriteStatus)  # a pod is being created: statuses wait
    (third,) = of(op.step(Outcome(create, True, "d-1", op.now)), WriteStatus)
    assert third.key == key("c") and third.doc["phase"] == "Disabled"  # b is still out
