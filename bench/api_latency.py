"""API latency at a million segments: stats, a one-hour range, a camera's last page.

    .venv/bin/python bench/api_latency.py [--rows 1000000] [--cameras 50] [--requests 1000]

Builds 1,000,000 footage rows across 50 cameras in SQLite (and in RethinkDB when
``SPECTARE_TEST_RETHINKDB`` names a real server, e.g. ``rethinkdb://127.0.0.1:28015``;
``--rethink-rows`` loads fewer there when the machine is slow, and the report says
how many), starts ``spectare api`` on it in a subprocess, and times real HTTP
requests (one keep-alive client, sequential) to:

- ``GET /api/v1/stats``
- ``GET /api/v1/cameras/<camera>/footage?from=T&to=T+3600`` (random camera and hour)
- ``GET /api/v1/cameras/<camera>/footage?order=desc&limit=100`` (random camera)

The rows go in by bulk insert, straight into the backend, because a million
single ``add_footage`` calls would take long; they are the rows ``add_footage``
writes, counters included, and that is checked before timing: a row written by the
store itself is compared with the bulk rows (columns and their types), every
camera's counters with an aggregate over its rows, and a sample read back through
the store interface. Results go to bench/results/api_latency.md.

RethinkDB figures come only from a real server: the script asks the server for its
version (``rethinkdb.server_status``), prints it in the report, and reports nothing
for RethinkDB when it cannot (the test mock has no such table).
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the harness's free_port and wait_until

from latency_http import Server, run_queries  # noqa: E402
from latency_rethink import load_rethink  # noqa: E402
from latency_rows import SEGMENT_SECONDS, camera_ids  # noqa: E402
from latency_sqlite import load_sqlite  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "api_latency.md"
TARGET_P99_MS = 10.0


# -- the report -------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    """The Markdown report of bench/results/api_latency.md."""
    lines = [
        "# API latency at a million segments",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {os.cpu_count()} CPUs (`nproc`), {_cpu_model()}, {platform.machine()}, "
        f"Linux {platform.release()}",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        "waitress (8 threads), one keep-alive client, requests one at a time",
        f"- data: up to {args.rows:,} footage rows across {args.cameras} cameras "
        f"({args.rows // args.cameras:,} segments of {SEGMENT_SECONDS} s each, "
        f"~{args.rows // args.cameras * SEGMENT_SECONDS / 86400:.0f} days per camera)",
        f"- {args.requests} timed requests per query after 50 warm-up requests; "
        "times are full HTTP round trips on 127.0.0.1, body read",
        f"- target: p99 <= {TARGET_P99_MS:g} ms",
        f"- load average (1 min) while timing: {args.load}; other work shared this machine",
        "- reproduce: `.venv/bin/python bench/api_latency.py`",
        "",
    ]
    if any(load > (os.cpu_count() or 1) for load in args.loads.values()):
        lines += [
            "The load average was above the CPU count while timing: the process serving",
            "the requests waited for a CPU, and the wall-clock tails (p99, max) measure that",
            "wait as much as the API. The server CPU time per request does not; on an idle",
            "machine it is close to the wall-clock p50. Re-run on a quiet machine for tails.",
            "",
        ]
    for backend, result in results.items():
        lines += [
            f"## {backend}",
            "",
            f"Bulk load of {result['rows']:,} rows ({result['rows'] // args.cameras:,} per "
            f"camera): {result['build_seconds']:.1f} s "
            "(rows and counters checked against the store's own writes before timing).",
            *(
                [f"Server: {result['version']} (real server, from rethinkdb.server_status)."]
                if result.get("version")
                else []
            ),
            "",
            "| query | p50 ms | p99 ms | mean ms | max ms | server CPU ms per request "
            "| items per answer | p99 target |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for query, m in result["queries"].items():
            ok = "met" if m["p99"] <= TARGET_P99_MS else "**missed**"
            lines.append(
                f"| {query} | {m['p50']:.2f} | {m['p99']:.2f} | {m['mean']:.2f} | "
                f"{m['max']:.2f} | {m['cpu']:.2f} | {m['items']:.1f} | {ok} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cameras", type=int, default=50)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument(
        "--rethink-rows", type=int, help="rows to load into RethinkDB (default: --rows)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    cameras = camera_ids(args.cameras)
    per_camera = args.rows // args.cameras
    now = time.time()
    results: dict[str, dict[str, Any]] = {}
    loads: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="spectare-bench-") as tmp:
        work = Path(tmp)
        backends: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("SQLite", lambda: load_sqlite(work / "spectare.db", cameras, per_camera, now))
        ]
        if server := os.environ.get("SPECTARE_TEST_RETHINKDB"):
            rethink_per_camera = (args.rethink_rows or args.rows) // args.cameras
            backends.append(
                ("RethinkDB", lambda: load_rethink(server, cameras, rethink_per_camera, now))
            )
        for backend, load in backends:
            print(f"{backend}: loading rows...", flush=True)
            loaded = load()
            print(f"{backend}: loaded in {loaded['build_seconds']:.1f} s; timing...", flush=True)
            api = Server(loaded["url"], work)
            try:
                rows_per_camera = loaded["rows"] // len(cameras)
                queries = run_queries(api, cameras, rows_per_camera, now, args.requests)
                loads[backend] = os.getloadavg()[0]
            finally:
                api.stop()
                if "drop" in loaded:
                    loaded["drop"]()
            results[backend] = {
                "build_seconds": loaded["build_seconds"],
                "queries": queries,
                "rows": loaded["rows"],
                "version": loaded.get("version"),
            }
            for query, m in queries.items():
                print(f"  {query}: p50 {m['p50']:.2f} ms, p99 {m['p99']:.2f} ms", flush=True)
    args.loads = loads
    args.load = ", ".join(f"{backend} {load:.1f}" for backend, load in loads.items())
    text = report(results, args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
