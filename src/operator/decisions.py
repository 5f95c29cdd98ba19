"""What each camera is waiting for (pure), and the phases only the operator can publish.

A worker reports its own phase to the store; Queued, Disabled, a backoff and an
invalid spec have no worker to report them, so the operator writes them into the
store itself, as the local pool does: the API shows them the same way in both modes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from spectare.operator.draft import Draft
from spectare.operator.effects import SetPhase
from spectare.operator.plan import Actions, CameraView, Key, Slot
from spectare.operator.status import Decision, phase_of

#: Decisions whose phase no worker reports: the operator writes them to the store.
SUPERVISOR_PHASES = ("queued", "disabled", "backoff", "invalid")


def queued_message(max_workers: int | None) -> str:
    """Why a queued camera waits (the local pool says the same)."""
    return f"waiting for a free worker slot (maxWorkers={max_workers})"


def decide(
    cameras: Mapping[Key, CameraView],
    actions: Actions,
    slots: Mapping[Key, Slot],
    previous: Mapping[Key, Decision],
    max_workers: int | None,
) -> dict[Key, Decision]:
    """Each camera's decision: a worker, or what it waits for and why."""
    decisions = {key: Decision("worker") for key in cameras}
    for key in actions.queued:
        decisions[key] = Decision("queued", queued_message(max_workers))
    for key in actions.disabled:
        decisions[key] = Decision("disabled")
    for key, wait in actions.backoff.items():
        last = slots.get(key, Slot()).last or "the worker ended"
        decisions[key] = Decision("backoff", f"{last}; restarting in {wait:.0f} s")
    for key, camera in cameras.items():
        if camera.error:
            decisions[key] = Decision("invalid", f"invalid spec: {camera.error}")
        elif previous.get(key, Decision("")).kind == "error" and key not in actions.backoff:
            decisions[key] = previous[key]  # kept until a create succeeds
    return decisions


def sync(
    draft: Draft, cameras: Mapping[Key, CameraView], actions: Actions, max_workers: int | None
) -> None:
    """Record the decisions; publish to the store the phases no worker reports.

    Only cameras with a row (seen in a scan) are published, and only a change: the row
    counts as written from then on, so the next pass does not write it again.
    """
    draft.decisions = decide(cameras, actions, draft.slots, draft.decisions, max_workers)
    for key, decision in draft.decisions.items():
        record = draft.records.get(key[1])
        if decision.kind not in SUPERVISOR_PHASES or record is None:
            continue
        phase, message = phase_of(decision, None, None)
        if (record.phase, record.message) != (phase.value, message):
            draft.records[key[1]] = replace(record, phase=phase.value, message=message)
            draft.effects.append(SetPhase(key[1], phase.value, message))
