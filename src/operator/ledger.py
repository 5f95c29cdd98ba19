"""The operator's memory between passes (``Ledger``) and what a pass observes (``World``).

Both are frozen: a pass (``machine.step``) takes a ledger and a world and returns a
new ledger with the effects to perform; the ledger it was given stays as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from spectare.operator.effects import Outcome
from spectare.operator.plan import CameraView, Key, Slot
from spectare.operator.pods import PodView
from spectare.operator.status import Decision
from spectare.store import CameraInfo, CameraRecord

K = TypeVar("K")
V = TypeVar("V")

#: What the operator knows of a pod it has seen (by uid).
LIVE, STOPPING, ENDED = "live", "stopping", "ended"


def frozen(items: Mapping[K, V] | None = None) -> Mapping[K, V]:
    """A read-only copy."""
    return MappingProxyType(dict(items or {}))


def _empty() -> Mapping[Any, Any]:
    return frozen()


#: A status as last written, and when.
Written = tuple[Mapping[str, Any], float]


@dataclass(frozen=True)
class Ledger:
    """Everything the operator remembers between passes; see ``machine.step``."""

    #: Each camera's worker history: failures in a row, when the last ended, a create
    #: on its way.
    slots: Mapping[Key, Slot] = field(default_factory=_empty)
    #: Pods seen per camera: uid -> live | stopping (our own doing) | ended.
    seen: Mapping[Key, Mapping[str, str]] = field(default_factory=_empty)
    #: What the last pass decided per camera (worker, queued, disabled, backoff...).
    decisions: Mapping[Key, Decision] = field(default_factory=_empty)
    #: The store's rows from the last scan (as the operator's own writes left them).
    records: Mapping[str, CameraRecord] = field(default_factory=_empty)
    #: The specs mirrored into the store.
    mirrored: Mapping[str, CameraInfo] = field(default_factory=_empty)
    #: Each Camera's status as last written, and when.
    written: Mapping[Key, Written] = field(default_factory=_empty)
    #: Status writes in flight (one per camera at a time).
    writing: frozenset[Key] = frozenset()
    #: Pod deletes in flight, (namespace, pod name).
    deleting: frozenset[tuple[str, str]] = frozenset()
    #: Camera uids, for Events (kept until the camera's last pod is gone).
    uids: Mapping[Key, str] = field(default_factory=_empty)
    #: When the earliest backoff ends: the next pass is due then at the latest.
    deadline: float | None = None


@dataclass(frozen=True)
class Scan:
    """One read of the store: every row, and the stale holds the store released."""

    rows: Sequence[CameraRecord]
    #: Camera -> worker of the holds that were stale when read.
    holders: Mapping[str, str] = field(default_factory=_empty)
    #: The cameras ``release_stale`` actually freed.
    released: Sequence[str] = ()


@dataclass(frozen=True)
class World:
    """What one pass observes: the indices, the time, and the answers since the last pass."""

    now: float
    cameras: Mapping[Key, CameraView]
    #: Every pod of each camera, terminal ones included.
    pods: Mapping[Key, Sequence[PodView]]
    #: Fresh rows of the cameras whose worker just ended (``endings.rows_needed``).
    rows: Mapping[str, CameraRecord | None] = field(default_factory=_empty)
    #: The store scan, when one was due and the store answered.
    scan: Scan | None = None
    outcomes: Sequence[Outcome] = ()
