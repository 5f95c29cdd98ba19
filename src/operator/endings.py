"""How workers end, read from their pods (pure): failures count, holds are freed.

A pod that ended (its container is over: restartPolicy Never), vanished or was deleted
by someone else is a failure unless the operator stopped it itself; a pod that ended
frees the camera in the store at once, so its replacement need not wait for the hold
to go stale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from spectare.operator.draft import Draft
from spectare.operator.effects import ReleaseHold
from spectare.operator.ledger import ENDED, LIVE, STOPPING, Ledger
from spectare.operator.plan import Key, Slot
from spectare.operator.pods import PodView
from spectare.store import CameraRecord

#: A created pod not in the index after this long is forgotten (and made again).
PENDING_SECONDS = 30.0


def rows_needed(ledger: Ledger, pods: Mapping[Key, Sequence[PodView]]) -> set[str]:
    """Cameras whose started worker the next pass will count as ended.

    Their store rows tell whether the worker recorded (then it was healthy); the
    acting code reads them fresh before the pass.
    """
    out = set()
    for key, views in pods.items():
        seen = ledger.seen.get(key, {})
        for pod in views:
            state = seen.get(pod.uid)
            if pod.started_at is None:
                continue
            if (pod.terminal and state not in (ENDED, STOPPING)) or (
                pod.deleting and not pod.terminal and state == LIVE
            ):
                out.add(key[1])
    return out


def _newest_end(rows: Mapping[str, CameraRecord | None], camera: str) -> float | None:
    row = rows.get(camera)
    return row.newest_end if row is not None else None


def observe(
    draft: Draft,
    key: Key,
    pods: Sequence[PodView],
    now: float,
    rows: Mapping[str, CameraRecord | None],
) -> list[PodView]:
    """Note pods that ended, vanished or were deleted; the ended pods left to delete."""
    seen = draft.seen.setdefault(key, {})
    current = {p.uid: p for p in pods}
    slot = draft.slots.get(key, Slot())
    if slot.pending and (any(p.name == slot.pending for p in pods)
                         or now - slot.pending_since > PENDING_SECONDS):  # fmt: skip
        draft.slots[key] = replace(slot, pending=None)
    for uid, was in list(seen.items()):
        if uid not in current:
            del seen[uid]
            if was == LIVE:
                draft.fail(key, None, now, "vanished", None)
    cleanup = []
    for pod in pods:
        state = seen.get(pod.uid)
        if pod.terminal:
            if state != ENDED:
                if state != STOPPING:
                    draft.fail(key, pod, now, "ended", _newest_end(rows, key[1]))
                seen[pod.uid] = ENDED
                draft.effects.append(ReleaseHold(key[1], pod.name))
            if not pod.deleting:
                cleanup.append(pod)
        elif pod.deleting:
            if state == LIVE:
                draft.fail(key, pod, now, "deleted", _newest_end(rows, key[1]))
            seen[pod.uid] = STOPPING if state != ENDED else state
        elif state is None:
            seen[pod.uid] = LIVE
    if not seen and key not in draft.slots:
        draft.seen.pop(key, None)
    return cleanup
