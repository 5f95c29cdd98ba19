"""The orphan monitor: a camera whose worker stopped heartbeating is released and its pod
replaced.

A frozen or partitioned worker keeps its pod Running, so Kubernetes sees nothing wrong;
only the store's heartbeat tells. The scan reads every camera's row once per
``scan_seconds`` (also the records the status is written from), releases stale holds
with the store's own atomic ``release_stale`` and deletes the silent pods with a short
grace period; the pool manager then starts replacements like for any failure.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from spectare.logs import get_logger
from spectare.operator.plan import Key
from spectare.operator.pods import PodView
from spectare.store import CameraRecord

if TYPE_CHECKING:
    from spectare.operator.reconciler import Reconciler

log = get_logger(__name__)


def stale_holders(rows: Iterable[CameraRecord], now: float, stale_seconds: float) -> dict[str, str]:
    """Camera -> worker for every hold whose heartbeat is older than ``stale_seconds``."""
    limit = now - stale_seconds
    return {
        r.id: r.worker for r in rows if r.worker and (r.heartbeat is None or r.heartbeat < limit)
    }


async def scan(rec: Reconciler, now: float, pods: dict[Key, list[PodView]]) -> None:
    """Read the rows; release stale holds and replace the pods that held them."""
    try:
        rows = await rec.in_store(rec.store.list_cameras)
    except Exception as exc:
        rec.store_ok = False
        log.warning("operator.store_unreachable", error=str(exc))
        return
    rec.store_ok = True
    rec.records = {r.id: r for r in rows}
    holders = stale_holders(rows, now, rec.settings.stale_seconds)
    if not holders:
        return
    released = await rec.in_store(rec.store.release_stale, now, rec.settings.stale_seconds)
    for name in released:
        log.warning("operator.stale_released", camera=name, worker=holders.get(name))
        for key, views in pods.items():
            for pod in views:
                if key[1] != name or pod.name != holders.get(name) or not pod.live:
                    continue
                await rec._failed(key, pod, now, "stale")
                rec.seen.setdefault(key, {})[pod.uid] = "stopping"
                if not pod.deleting:
                    grace = rec.settings.orphan_grace_seconds
                    await rec._delete(key, pod.name, "stale", pod, grace=grace)
