"""Timing the API: ``spectare api`` in a subprocess and a keep-alive client against it.

Each query is timed as a full HTTP round trip on 127.0.0.1 (body read), one
request at a time, and the server's own CPU time per request is read from /proc,
which other load on the machine cannot inflate the way it inflates wall-clock tails.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from latency_rows import SEGMENT_SECONDS

from harness.procs import free_port, wait_until

_SERVER = """
from spectare.api import serve
from spectare.logs import setup_logging
from spectare.settings import load_settings

settings = load_settings()
setup_logging("warning")
serve(settings)
"""


class Server:
    """``spectare api`` in a subprocess on 127.0.0.1."""

    def __init__(self, store_url: str, workdir: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTARE_")}
        env.update(
            SPECTARE_STORE=store_url,
            SPECTARE_FOOTAGE_DIR=str(workdir / "footage"),
            SPECTARE_API_HOST="127.0.0.1",
            SPECTARE_API_PORT=str(free_port()),
        )
        self.port = int(env["SPECTARE_API_PORT"])
        self.log = (workdir / "api.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-c", _SERVER], env=env, stdout=self.log, stderr=self.log
        )
        try:
            wait_until(self._healthy, 60, "the API to answer /healthz")
        except TimeoutError:
            raise RuntimeError(f"the API did not start; see {self.log.name}") from None

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"the API exited with {self.process.returncode}; see {self.log.name}"
            )
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/healthz")
            ok = conn.getresponse().status == 200
            conn.close()
            return ok
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    server: Server, make_path: Callable[[], str], count: int, warmup: int = 50
) -> dict[str, Any]:
    """Milliseconds per request (full round trip, body read), keep-alive, one at a time;
    and the server's CPU time per request, which other load on the machine cannot
    inflate the way it inflates wall-clock tails."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    times: list[float] = []
    items: list[int] = []
    cpu_before = 0.0
    for i in range(warmup + count):
        if i == warmup:
            cpu_before = cpu_seconds(server.process.pid)
        path = make_path()
        started = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {body[:200]!r}")
        if i >= warmup:
            times.append(elapsed)
            doc = json.loads(body)
            items.append(len(doc.get("items", [])))
    cpu = (cpu_seconds(server.process.pid) - cpu_before) / count * 1000
    conn.close()
    times.sort()
    return {
        "cpu": cpu,
        "p50": statistics.median(times),
        "p99": times[min(len(times) - 1, int(len(times) * 0.99))],
        "max": times[-1],
        "mean": statistics.fmean(times),
        "items": statistics.fmean(items),
    }


def run_queries(
    server: Server, cameras: list[str], per_camera: int, now: float, count: int
) -> dict[str, Any]:
    """Time the three queries of the benchmark, ``count`` requests each."""
    rng = random.Random(11)
    span = per_camera * SEGMENT_SECONDS
    oldest = now - span

    def hour() -> str:
        start = rng.uniform(oldest, now - 3600)
        return (
            f"/api/v1/cameras/{rng.choice(cameras)}/footage?from={start:.3f}&to={start + 3600:.3f}"
        )

    return {
        "GET /api/v1/stats": measure(server, lambda: "/api/v1/stats", count),
        "one-hour footage range": measure(server, hour, count),
        "a camera's last page (100, newest first)": measure(
            server,
            lambda: f"/api/v1/cameras/{rng.choice(cameras)}/footage?order=desc&limit=100",
            count,
        ),
    }
