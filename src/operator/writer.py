"""Which Camera statuses to write (pure): when something a person cares about changed.

One write per camera at a time, and no more out at once than the acting code sends
in a second; the heartbeat alone is written at most every ``status_heartbeat_seconds``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from spectare.operator.draft import Draft
from spectare.operator.effects import WriteStatus
from spectare.operator.plan import CameraView, Key, Slot
from spectare.operator.pods import PodView
from spectare.operator.status import (
    Decision,
    needs_write,
    status_document,
    transition_event,
)


def compact(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The document as the API server stores it after a merge patch (nulls removed)."""
    return {k: v for k, v in doc.items() if v is not None}


def current_pods(pods: Mapping[Key, Sequence[PodView]]) -> dict[Key, PodView]:
    """Each camera's pod as its status shows it: the newest live one."""
    out = {}
    for key, views in pods.items():
        live = sorted((p for p in views if p.live), key=lambda p: (p.deleting, -p.created))
        if live:
            out[key] = live[0]
    return out


def sync(
    draft: Draft,
    cameras: Mapping[Key, CameraView],
    pods: Mapping[Key, Sequence[PodView]],
    now: float,
    heartbeat_seconds: float,
    in_flight: int,
) -> None:
    """Decide the status writes that are due, at most ``in_flight`` out at once.

    The acting code rate limits writes; a document waiting for its turn there would be
    stale when sent (and need a second write), so the cameras beyond ``in_flight`` wait
    for a later pass and get a fresh document then, the least recently written first.
    """
    for key in set(draft.written) - set(cameras):
        del draft.written[key]
    room = in_flight - len(draft.writing)
    if room <= 0:
        return
    current = current_pods(pods)

    def last_written(key: Key) -> float:
        return draft.written[key][1] if key in draft.written else float("-inf")

    for key in sorted(cameras, key=last_written):
        camera = cameras[key]
        decision = draft.decisions.get(key, Decision("worker"))
        on_the_way = key not in current and draft.slots.get(key, Slot()).pending
        if key in draft.writing or (on_the_way and decision.kind != "error"):
            continue  # busy, or its pod is on the way: one write, not two
        old, when = draft.written.get(key, (compact(camera.status), None))
        doc = status_document(camera.generation, decision, current.get(key),
                              draft.records.get(key[1]), dict(old), now)  # fmt: skip
        if not needs_write(compact(doc), dict(old), when, now, heartbeat_seconds):
            continue
        draft.writing.add(key)
        draft.effects.append(WriteStatus(key, doc, dict(old)))
        room -= 1
        if room == 0:
            return


def written(draft: Draft, effect: WriteStatus, ok: bool, at: float) -> None:
    """A write came back: remember it, and post the Event of a phase change."""
    draft.writing.discard(effect.key)
    if not ok:
        return
    draft.written[effect.key] = (compact(effect.doc), at)
    old_phase = effect.old.get("phase")
    change = transition_event(old_phase, effect.doc["phase"], effect.doc.get("message"))
    if change:
        draft.event(effect.key, *change)
