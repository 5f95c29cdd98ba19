"""The API latency benchmark's RethinkDB store: rows bulk-loaded on a real server.

Only a real server gives figures: the load asks it for its version
(``rethinkdb.server_status``) and stops when it cannot (the mock has no such table).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict
from typing import Any

from latency_rows import Counters, generate, register_cameras, verify_counters

from spectare.store import Footage


def load_rethink(
    server: str,
    cameras: list[str],
    per_camera: int,
    now: float,
) -> dict[str, Any]:
    """Bulk-load a fresh database on the RethinkDB server named by ``server``.

    Documents are made by the store's own ``footage_doc`` and inserted in batches
    through its connection; the first camera's newest segment goes through
    ``add_footage``, as in the SQLite load. Refuses anything but a real server.
    """
    from rethinkdb import r

    from spectare.store.rethink import RethinkStore, footage_doc

    name = f"spectare_bench_{uuid.uuid4().hex[:8]}"
    url = f"{server.rstrip('/')}/{name}"

    def open_rethink(setup: bool = True) -> RethinkStore:
        # Bulk inserts of 5,000 rows take longer than the API's per-call deadline.
        store = RethinkStore(url, deadline=600.0)
        if setup:
            store.setup()
        return store

    store = open_rethink(setup=False)
    try:
        version = store._run(r.db("rethinkdb").table("server_status").nth(0)["process"]["version"])
    except Exception as exc:  # the mock has no system tables: no figure from it
        store.close()
        raise SystemExit(f"{server} is not a real RethinkDB server ({exc}); no figures") from exc
    store.setup()
    register_cameras(store, cameras, now)
    counters = {camera: Counters() for camera in cameras}
    samples: list[Footage] = []
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []
    held_back: Footage | None = None
    for i, footage in enumerate(generate(cameras, per_camera, now)):
        if footage.camera == cameras[0] and counters[footage.camera].segments == per_camera - 1:
            held_back = footage  # indexed below through add_footage
            continue
        counters[footage.camera].add(footage)
        if i % 99_991 == 0:
            samples.append(footage)
        batch.append(footage_doc(footage))
        if len(batch) == 5000:
            store._run(store._table("footage").insert(batch, durability="soft"), retry=False)
            batch = []
    if batch:
        store._run(store._table("footage").insert(batch, durability="soft"), retry=False)
    for camera, c in counters.items():
        store._run(
            store._table("cameras")
            .get(camera)
            .update({**asdict(c), "footage_rev": c.segments, "recount_needed": False}),
            retry=False,
        )
    assert held_back is not None
    assert store.add_footage(held_back, now=held_back.end)
    samples.append(held_back)
    # Soft-durability inserts are still being written out: flush them now, so that
    # the timing below does not share the server with its own write-back.
    store._run(store._table("footage").sync())
    took = time.perf_counter() - started

    # What the rows say, computed by the server (one index range per camera), to hold
    # the counters against.
    truth = {}
    for camera in cameras:
        rows = store._table("footage").between(
            [camera, r.minval, r.minval], [camera, r.maxval, r.maxval], index="camera_start"
        )
        n, total, seconds, oldest, newest = store._run(
            r.expr(
                [
                    rows.count(),
                    rows.sum("bytes"),
                    rows.sum("duration"),
                    rows.min("start")["start"],
                    rows.max("end")["end"],
                ]
            )
        )
        truth[camera] = (int(n), int(total), float(seconds), float(oldest), float(newest))
    store.close()
    verify_counters(open_rethink(), truth, cameras, samples)

    def drop() -> None:
        cleanup = open_rethink(setup=False)
        cleanup._run(r.db_drop(name))
        cleanup.close()

    return {"url": url, "build_seconds": took, "drop": drop, "version": str(version),
            "rows": len(cameras) * per_camera}  # fmt: skip
