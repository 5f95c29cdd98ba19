"""Which workers should run: one pure decision shared by the local pool and the operator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Wanted:
    """A camera as the plan sees it."""

    name: str
    enabled: bool


@dataclass(frozen=True)
class WorkerState:
    """What the supervisor knows of a camera's worker."""

    alive: bool
    #: Consecutive failures since the worker last ran well; 0 when it never failed.
    failures: int = 0
    #: When the last worker ended (epoch seconds), if it did.
    ended_at: float | None = None


@dataclass
class Plan:
    """What to do now, and what each idle camera waits for."""

    start: list[str] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)
    #: Camera -> seconds until its worker may be started again.
    backoff: dict[str, float] = field(default_factory=dict)
    queued: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)


def restart_delay(failures: int, base: float = 1.0, cap: float = 60.0) -> float:
    """Seconds to wait before the next start after ``failures`` failures in a row."""
    if failures <= 0:
        return 0.0
    return float(min(cap, base * 2 ** (failures - 1)))


def plan_workers(
    cameras: Sequence[Wanted],
    workers: Mapping[str, WorkerState],
    now: float,
    max_workers: int | None = None,
    backoff_cap: float = 60.0,
) -> Plan:
    """Decide which cameras get a worker.

    A camera that has (or just had) a worker keeps its slot ahead of cameras that
    never had one, so raising the load never preempts a recording; the rest are
    served in name order and wait as Queued beyond ``max_workers``.
    """
    plan = Plan()
    enabled = {c.name for c in cameras if c.enabled}
    plan.disabled = sorted(c.name for c in cameras if not c.enabled)
    plan.stop = sorted(name for name, w in workers.items() if w.alive and name not in enabled)

    def incumbent(name: str) -> bool:
        return name in workers

    order = sorted(enabled, key=lambda name: (not incumbent(name), name))
    slots = len(order) if max_workers is None else max_workers
    for name in order:
        state = workers.get(name)
        if slots <= 0:
            if state is not None and state.alive:
                # Only reached when max_workers was lowered: stop the newest-named extras.
                plan.stop.append(name)
            plan.queued.append(name)
            continue
        slots -= 1
        if state is not None and state.alive:
            plan.keep.append(name)
            continue
        wait = 0.0
        if state is not None and state.ended_at is not None:
            wait = state.ended_at + restart_delay(state.failures, cap=backoff_cap) - now
        if wait > 0:
            plan.backoff[name] = wait
        else:
            plan.start.append(name)
    plan.stop.sort()
    return plan
