"""Reconnect delays: pure, so the policy is tested without waiting."""

from __future__ import annotations

from dataclasses import dataclass

from spectare.worker.ffmpeg import Cause


@dataclass(frozen=True)
class Policy:
    """Delays double from ``first`` up to ``cap``."""

    first: float
    cap: float

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failed runs in a row; none after a good run (0)."""
        if failures <= 0:
            return 0.0
        return float(min(self.cap, self.first * 2 ** (failures - 1)))


#: A dropped or unreachable camera is retried soon; wrong credentials slowly, since
#: cameras lock accounts out after repeated failures.
RECONNECT = Policy(first=1.0, cap=30.0)
AUTH = Policy(first=30.0, cap=300.0)

#: A run that lasted this long, or produced a segment, counts as a success.
HEALTHY_RUN_SECONDS = 30.0


def next_delay(cause: Cause, failures: int) -> float:
    """How long to wait before reconnecting after ``failures`` failures ending in ``cause``."""
    return (AUTH if cause is Cause.AUTH else RECONNECT).delay(failures)
