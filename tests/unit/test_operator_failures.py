"""The operator's state machine when workers fail, on plain data and a virtual clock.

- a pod that ended on its own is a failure: the hold is released, the pod deleted, a
  WorkerFailed Event posted, and the store shows the backoff until it is over;
- the replacement comes when the backoff ends (not a pass earlier), counts a restart
  and says WorkerReplaced; a worker that recorded is replaced without backoff;
- only workers whose end the pass will count have their store row read (rows_needed);
- a pod deleted by someone else, or gone from the index, is a failure too;
- a stale heartbeat released by the store fails the silent pod and deletes it with
  the orphan grace period;
- a create the API server refuses shows as an error until a create succeeds;
- a created pod that never shows up is forgotten after PENDING_SECONDS and made again;
- a heartbeat-only status change waits for status_heartbeat_seconds.
"""

from __future__ import annotations

from spectare.operator.effects import (
    BumpRestarts,
    CreatePod,
    DeletePod,
    Outcome,
    PostEvent,
    ReleaseHold,
    SetPhase,
    WriteStatus,
)
from spectare.operator.endings import PENDING_SECONDS, rows_needed
from spectare.operator.ledger import Scan
from spectare.store import CameraRecord
from unit.operator_data import Operator, cam, key, of, pod

ENDED = "worker pod a-1 ended with exit code 1"


def running(op: Operator, name: str = "a-1") -> CreatePod:
    """Camera a with its pod ``name`` running, as the ledger remembers it."""
    op.add(cam("a"))
    (create,) = of(op.step(), CreatePod)
    op.step(Outcome(create, True, name, op.now))
    op.pods[key("a")] = [pod("a", name, started_at=op.now)]
    row = CameraRecord(id="a", worker=name, phase="Recording", heartbeat=op.now)
    (write,) = of(op.step(scan=[row]), WriteStatus)
    op.step(Outcome(write, True, at=op.now))
    return create


def end(op: Operator, name: str = "a-1", code: int = 1) -> None:
    started = op.pods[key("a")][0].started_at
    op.pods[key("a")] = [pod("a", name, phase="Failed", started_at=started,
                             finished_at=op.now, exit_code=code)]  # fmt: skip


def failed_events(effects: list[object]) -> list[str]:
    return [e.message for e in of(effects, PostEvent) if e.reason == "WorkerFailed"]


def test_an_ended_worker_is_a_failure_and_waits_out_its_backoff() -> None:
    op = Operator()
    running(op)
    end(op)
    assert rows_needed(op.ledger, op.pods) == {"a"}

    effects = op.step(rows={"a": CameraRecord(id="a")})

    assert ReleaseHold("a", "a-1") in effects
    assert DeletePod(key("a"), "a-1", "ended") in effects
    assert failed_events(effects) == [f"{ENDED}; it will be replaced"]
    assert SetPhase("a", "Pending", f"{ENDED}; restarting in 1 s") in effects
    assert not of(effects, CreatePod)
    slot = op.ledger.slots[key("a")]
    assert slot.failures == 1 and slot.ended_at == op.now
    assert op.ledger.deadline == op.now + 1
    (write,) = of(effects, WriteStatus)
    assert write.doc["phase"] == "Pending" and "restarting in 1 s" in write.doc["message"]
    assert rows_needed(op.ledger, op.pods) == set()  # counted once

    del op.pods[key("a")]
    assert not of(op.step(after=0.5), CreatePod)  # still waiting
    (create,) = of(op.step(after=0.5), CreatePod)  # the backoff is over
    assert create.replacing
    effects = op.step(Outcome(create, True, "a-2", op.now))
    assert BumpRestarts("a") in effects
    replaced = PostEvent(key("a"), "uid-a", "Normal", "WorkerReplaced", "created worker pod a-2")
    assert replaced in effects


def test_failures_in_a_row_double_the_backoff() -> None:
    op = Operator()
    running(op)
    end(op)
    op.step(rows={"a": None})
    del op.pods[key("a")]
    (create,) = of(op.step(after=1), CreatePod)
    op.step(Outcome(create, True, "a-2", op.now))
    op.pods[key("a")] = [pod("a", "a-2", started_at=op.now)]
    op.step()
    op.pods[key("a")] = [pod("a", "a-2", phase="Failed", started_at=op.now, exit_code=1)]

    op.step(rows={"a": None})

    assert op.ledger.slots[key("a")].failures == 2
    assert op.ledger.deadline == op.now + 2


def test_a_worker_that_recorded_is_replaced_at_once() -> None:
    op = Operator()
    running(op)
    started = op.pods[key("a")][0].started_at
    assert started is not None
    end(op, code=0)

    effects = op.step(rows={"a": CameraRecord(id="a", newest_end=started + 2)})

    assert op.ledger.slots[key("a")].failures == 0
    assert failed_events(effects)  # still news: its replacement follows
    (create,) = of(effects, CreatePod)  # in the same pass
    assert create.replacing


def test_a_pod_deleted_by_someone_else_or_vanished_is_a_failure() -> None:
    op = Operator()
    running(op)
    op.pods[key("a")] = [pod("a", "a-1", deleting=True, started_at=op.now)]
    assert rows_needed(op.ledger, op.pods) == {"a"}
    effects = op.step(rows={"a": None})
    assert failed_events(effects) == ["worker pod a-1 was deleted; it will be replaced"]

    other = Operator()
    running(other)
    del other.pods[key("a")]
    assert rows_needed(other.ledger, other.pods) == set()  # nothing to read: it is gone
    effects = other.step()
    assert failed_events(effects) == ["the worker pod vanished; it will be replaced"]


def test_a_stale_heartbeat_fails_and_deletes_the_silent_pod() -> None:
    op = Operator(orphan_grace_seconds=3)
    running(op)
    row = CameraRecord(id="a", worker=None, phase="Recording", heartbeat=op.now - 100)

    effects = op.step(scan=Scan([row], holders={"a": "a-1"}, released=["a"]))

    assert DeletePod(key("a"), "a-1", "stale", grace=3) in effects
    assert failed_events(effects) == ["worker pod a-1 stopped heartbeating; it will be replaced"]
    assert op.ledger.seen[key("a")] == {"uid-a-1": "stopping"}
    op.pods[key("a")] = [pod("a", "a-1", deleting=True)]
    assert not failed_events(op.step())  # its own delete is no second failure


def test_a_refused_create_shows_until_a_create_succeeds() -> None:
    op = Operator()
    op.add(cam("a"))
    (create,) = of(op.step(), CreatePod)

    effects = op.step(Outcome(create, False, "403 forbidden", op.now))

    assert op.ledger.decisions[key("a")].kind == "error"
    (again,) = of(effects, CreatePod)  # tried again at the next pass
    (write,) = of(effects, WriteStatus)  # shown while the create runs again
    assert write.doc["phase"] == "Pending"
    assert write.doc["message"] == "cannot create the worker pod: 403 forbidden"
    assert op.ledger.decisions[key("a")].kind == "error"  # kept while the create runs
    op.step(Outcome(again, True, "a-1", op.now))
    assert op.ledger.decisions[key("a")].kind == "worker"


def test_a_pod_that_never_shows_up_is_made_again() -> None:
    op = Operator()
    op.add(cam("a"))
    (create,) = of(op.step(), CreatePod)
    op.step(Outcome(create, True, "a-1", op.now))

    assert not of(op.step(after=PENDING_SECONDS - 1), CreatePod)
    (again,) = of(op.step(after=2), CreatePod)
    assert again.key == key("a")


def test_a_heartbeat_alone_waits_for_the_status_heartbeat_interval() -> None:
    op = Operator(status_heartbeat_seconds=60)
    running(op)

    newer = [CameraRecord(id="a", worker="a-1", phase="Recording", heartbeat=op.now + 5)]
    assert not of(op.step(scan=newer, after=30), WriteStatus)
    later = [CameraRecord(id="a", worker="a-1", phase="Recording", heartbeat=op.now + 40)]
    (write,) = of(op.step(scan=later, after=31), WriteStatus)
    assert write.doc["lastHeartbeat"] != write.old["lastHeartbeat"]
