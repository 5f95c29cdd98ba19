"""``/healthz`` and ``/readyz`` of the operator, for the Deployment's probes.

Liveness means the pool manager's loop still turns (a wedged loop is restarted);
readiness means it can do its job now: kopf has listed, the store answers.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from spectare.operator.reconciler import Reconciler


def stuck_after(scan_seconds: float) -> float:
    """Seconds without a finished pass after which the operator counts as wedged."""
    return max(60.0, 6 * scan_seconds)


async def serve(rec: Reconciler, host: str, port: int) -> web.AppRunner:
    """Start the probe server; the caller cleans the returned runner up."""

    async def healthz(_: web.Request) -> web.Response:
        idle = time.monotonic() - rec.last_pass
        if idle > stuck_after(rec.settings.scan_seconds):
            return web.json_response({"ok": False, "idle_seconds": round(idle)}, status=500)
        return web.json_response(
            {"ok": True, "passes": rec.passes, "ticks": rec.ticks, "leading": rec.leading}
        )

    async def readyz(_: web.Request) -> web.Response:
        ready = rec.kube is not None and rec.store_ok
        body = {"ok": ready, "api": rec.kube is not None, "store": rec.store_ok,
                "indexed": rec.indexed}  # fmt: skip
        return web.json_response(body, status=200 if ready else 503)

    app = web.Application()
    app.add_routes([web.get("/healthz", healthz), web.get("/readyz", readyz)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
