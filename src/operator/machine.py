"""The operator's state machine (pure): a ledger and what a pass observes in, a new
ledger and the effects to perform out.

One pass, in order: take in how the last pass's writes came out; the store scan's
rows and the stale holds it released (orphans); how pods ended (endings); what
``plan.decide`` wants created, deleted, queued; the phases to publish; the store's
mirror of the specs; the Camera statuses that changed. Time comes in as ``world.now``
only, so timers (backoff, pending creates, status heartbeats) are tested on plain
numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from spectare.operator import decisions, endings, mirror, orphans, writer
from spectare.operator.config import OperatorSettings
from spectare.operator.draft import Draft
from spectare.operator.effects import (
    BumpRestarts,
    CreatePod,
    DeletePod,
    Effect,
    Outcome,
    UpsertCamera,
    WriteStatus,
)
from spectare.operator.ledger import Ledger, World
from spectare.operator.plan import CameraView, Key, Slot, decide
from spectare.operator.pods import CameraRef, PodView
from spectare.operator.status import Decision

#: Slot.pending while the create request is in flight.
CREATING = "(creating)"


def step(ledger: Ledger, world: World, settings: OperatorSettings) -> tuple[Ledger, list[Effect]]:
    """One pass; see the module docstring. ``ledger`` is left as it was."""
    now, cameras, pods = world.now, world.cameras, world.pods
    draft = Draft(ledger)
    for outcome in world.outcomes:
        settle(draft, outcome)
    draft.uids.update({key: camera.uid for key, camera in cameras.items()})
    if world.scan is not None:
        draft.records = {r.id: r for r in world.scan.rows}
        orphans.released(draft, world.scan, pods, now, settings.orphan_grace_seconds)
    cleanup: list[tuple[Key, PodView]] = []
    pending = [k for k, slot in draft.slots.items() if slot.pending]  # their timeout runs too
    for key in {*draft.seen, *pods, *pending}:
        ended = endings.observe(draft, key, pods.get(key, ()), now, world.rows)
        cleanup += [(key, pod) for pod in ended]
    live = {key: [p for p in views if p.live] for key, views in pods.items()}
    actions = decide(cameras, live, draft.slots, now, settings.max_workers,
                     settings.restart_backoff_max_seconds)  # fmt: skip
    decisions.sync(draft, cameras, actions, settings.max_workers)
    by_name = {(key, p.name): p for key, views in pods.items() for p in views}
    for key, pod in cleanup:
        draft.delete(key, pod.name, "ended", pod)
    for key, name, why in actions.delete:
        draft.delete(key, name, why, by_name.get((key, name)))
    for key in actions.create:
        camera = cameras[key]
        assert camera.spec is not None  # decide starts valid cameras only
        slot = draft.slots.get(key, Slot())
        # Held as pending until the pod shows up, so no pass creates a second one.
        draft.slots[key] = replace(slot, pending=CREATING, pending_since=float("inf"))
        ref = CameraRef(key[0], key[1], camera.uid, camera.spec)
        draft.effects.append(CreatePod(ref, replacing=slot.ended_at is not None))
    _forget_gone(draft, cameras, pods)
    waits = [now + wait for wait in actions.backoff.values()]
    draft.deadline = min(waits) if waits else None
    mirror.sync(draft, cameras)
    # Pods first: while pods are being created (a burst of new Cameras), statuses wait
    # and are then written once, in the state the pods have reached.
    in_flight = 0 if _creating(draft) else max(1, int(settings.status_writes_per_second))
    writer.sync(draft, cameras, pods, now, settings.status_heartbeat_seconds, in_flight)
    return draft.freeze(), draft.effects


def _creating(draft: Draft) -> bool:
    """Whether pod creates are in flight (a create retried after an error does not count:
    its error is what the status must show)."""
    return any(
        slot.pending == CREATING and draft.decisions.get(key, Decision("")).kind != "error"
        for key, slot in draft.slots.items()
    )


def _forget_gone(
    draft: Draft, cameras: Mapping[Key, CameraView], pods: Mapping[Key, Sequence[PodView]]
) -> None:
    """A deleted camera's memory goes with its last pod (a create in flight keeps it)."""
    for key in [k for k in draft.slots if k not in cameras and k not in pods]:
        if not draft.slots[key].pending:
            del draft.slots[key]
            draft.seen.pop(key, None)
    for key in [k for k in draft.uids if k not in cameras and k not in pods]:
        del draft.uids[key]


def settle(draft: Draft, outcome: Outcome) -> None:
    """Take in how one effect came out."""
    effect, at = outcome.effect, outcome.at
    if isinstance(effect, CreatePod):
        key = effect.key
        slot = draft.slots.get(key, Slot())
        if not outcome.ok:
            draft.decisions[key] = Decision("error", f"cannot create the worker pod: "
                                                     f"{outcome.detail}")  # fmt: skip
            draft.slots[key] = replace(slot, pending=None)
            return
        name = outcome.detail or ""
        draft.slots[key] = replace(slot, pending=name, pending_since=at)
        if draft.decisions.get(key, Decision("")).kind == "error":
            draft.decisions[key] = Decision("worker")
        if effect.replacing:  # a camera's first pod is no news; its "Recording" event follows
            draft.effects.append(BumpRestarts(key[1]))
            draft.event(key, "Normal", "WorkerReplaced", f"created worker pod {name}")
    elif isinstance(effect, DeletePod):
        draft.deleting.discard((effect.key[0], effect.name))
        if outcome.ok and effect.why == "spec":
            draft.event(effect.key, "Normal", "SpecChanged",
                        f"replacing {effect.name} for the new spec")  # fmt: skip
    elif isinstance(effect, WriteStatus):
        writer.written(draft, effect, outcome.ok, at)
    elif isinstance(effect, UpsertCamera) and not outcome.ok:
        # Forgotten as mirrored, so the next pass writes it again.
        draft.mirrored.pop(effect.info.id, None)
