"""``/healthz`` and ``/readyz`` of the operator, for the Deployment's probes.

Liveness means the pool manager's loop still turns (a wedged loop is restarted);
readiness means it can do its job now: kopf has listed, the store answers. The
answers are pure functions of a ``Vitals`` snapshot; the server only asks for one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Vitals:
    """What the probes report, as the pool manager's loop sees itself."""

    idle_seconds: float  # since the last finished loop turn
    passes: int  # passes that acted
    ticks: int  # loop turns, standby included
    leading: bool | None  # None: standalone, or peering not read yet
    api: bool  # an API client is logged in
    store: bool  # the store answered the last scan or ping
    indexed: bool  # kopf has listed (its first event came)


def stuck_after(scan_seconds: float) -> float:
    """Seconds without a finished pass after which the operator counts as wedged."""
    return max(60.0, 6 * scan_seconds)


def liveness(vitals: Vitals, stuck_seconds: float) -> tuple[int, dict[str, Any]]:
    """HTTP status and body of ``/healthz``."""
    if vitals.idle_seconds > stuck_seconds:
        return 500, {"ok": False, "idle_seconds": round(vitals.idle_seconds)}
    return 200, {"ok": True, "passes": vitals.passes, "ticks": vitals.ticks,
                 "leading": vitals.leading}  # fmt: skip


def readiness(vitals: Vitals) -> tuple[int, dict[str, Any]]:
    """HTTP status and body of ``/readyz``."""
    ready = vitals.api and vitals.store
    body = {"ok": ready, "api": vitals.api, "store": vitals.store, "indexed": vitals.indexed}
    return (200 if ready else 503), body


async def serve(
    vitals: Callable[[], Vitals], stuck_seconds: float, host: str, port: int
) -> web.AppRunner:
    """Start the probe server; the caller cleans the returned runner up."""

    async def healthz(_: web.Request) -> web.Response:
        status, body = liveness(vitals(), stuck_seconds)
        return web.json_response(body, status=status)

    async def readyz(_: web.Request) -> web.Response:
        status, body = readiness(vitals())
        return web.json_response(body, status=status)

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
