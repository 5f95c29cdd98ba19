"""The orphan monitor (pure): a worker that stopped heartbeating is failed and its pod replaced.

A frozen or partitioned worker keeps its pod Running, so Kubernetes sees nothing wrong;
only the store's heartbeat tells. Every ``scan_seconds`` the acting code reads every
row once, finds the stale holds here (``stale_holders``), has the store release them
with its own atomic ``release_stale``, and hands the answer to ``released``: the
silent pods are deleted with a short grace period and replaced like any failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from spectare.operator.draft import Draft
from spectare.operator.effects import note
from spectare.operator.ledger import STOPPING, Scan
from spectare.operator.plan import Key
from spectare.operator.pods import PodView
from spectare.store import CameraRecord


def stale_holders(rows: Iterable[CameraRecord], now: float, stale_seconds: float) -> dict[str, str]:
    """Camera -> worker for every hold whose heartbeat is older than ``stale_seconds``."""
    limit = now - stale_seconds
    return {
        r.id: r.worker for r in rows if r.worker and (r.heartbeat is None or r.heartbeat < limit)
    }


def released(
    draft: Draft, scan: Scan, pods: Mapping[Key, Sequence[PodView]], now: float, grace: int
) -> None:
    """Fail and delete the live pods whose stale hold the store released."""
    rows = {r.id: r for r in scan.rows}
    for name in scan.released:
        holder = scan.holders.get(name)
        draft.effects.append(note("operator.stale_released", "warning", camera=name,
                                  worker=holder))  # fmt: skip
        row = rows.get(name)
        for key, views in pods.items():
            if key[1] != name:
                continue
            for pod in views:
                if pod.name != holder or not pod.live:
                    continue
                draft.fail(key, pod, now, "stale", row.newest_end if row else None)
                draft.seen.setdefault(key, {})[pod.uid] = STOPPING
                if not pod.deleting:
                    draft.delete(key, pod.name, "stale", pod, grace=grace)
