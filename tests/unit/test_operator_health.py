"""The operator's probes, from a snapshot of the loop's vitals (pure).

- /healthz answers 200 with the pass counters while the loop turns, 500 once it has
  been idle longer than stuck_after (at least a minute, six scans);
- /readyz answers 200 only with an API client and a store that answers, 503 otherwise.
"""

from __future__ import annotations

from spectare.operator.health import Vitals, liveness, readiness, stuck_after


def vitals(**kw: object) -> Vitals:
    values: dict[str, object] = dict(idle_seconds=1.0, passes=3, ticks=5, leading=None,
                                     api=True, store=True, indexed=True)  # fmt: skip
    values.update(kw)
    return Vitals(**values)  # type: ignore[arg-type]


def test_liveness_fails_once_the_loop_stops_turning() -> None:
    assert stuck_after(5.0) == 60.0 and stuck_after(20.0) == 120.0
    assert liveness(vitals(), 60.0) == (200, {"ok": True, "passes": 3, "ticks": 5,
                                              "leading": None})  # fmt: skip
    assert liveness(vitals(idle_seconds=61.4), 60.0) == (500, {"ok": False, "idle_seconds": 61})


def test_readiness_needs_the_api_and_the_store() -> None:
    assert readiness(vitals())[0] == 200
    status, body = readiness(vitals(store=False, indexed=False))
    assert status == 503 and body == {"ok": False, "api": True, "store": False, "indexed": False}
    assert readiness(vitals(api=False))[0] == 503
