"""The API latency benchmark's SQLite store: a million rows bulk-loaded, then checked.

The rows are made inside SQLite (a million in seconds rather than minutes in
Python) by the same rules as ``latency_rows.generate``; ``verify_sqlite`` proves
they are the rows the store itself writes, before anything is timed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

from latency_rows import (
    SEGMENT_SECONDS,
    Truth,
    check_row,
    first_start,
    register_cameras,
    segment,
    verify_counters,
)

from spectare.store import Footage, open_store

_FOOTAGE_COLUMNS = [f.name for f in fields(Footage)]

# The rows are made inside SQLite (a million in seconds rather than minutes in Python),
# exactly as the store writes them: a UUIDv7 id from the start time, the layout's path
# (<camera>/<YYYY>/<MM>/<DD>/<uuid>.mp4, UTC) and thumbnail beside it, end = start +
# duration, segments back to back with a reconnect gap now and then. The recursion
# advances all cameras together, so ids arrive nearly in order, as in production.
_GENERATE = """
WITH RECURSIVE
  cams(idx, camera) AS (SELECT key, value FROM json_each(:cameras)),
  seg(idx, n, start, duration) AS (
    SELECT idx, 0, :first, :segment - (abs(random()) % 200) / 1000.0 FROM cams
    UNION ALL
    SELECT idx, n + 1,
           start + duration
             + CASE WHEN abs(random()) % 100 = 0 THEN 5 + abs(random()) % 1800 ELSE 0 END,
           :segment - (abs(random()) % 200) / 1000.0
    FROM seg
    WHERE n + 1 < CASE WHEN idx = 0 THEN :per_camera - 1 ELSE :per_camera END
  ),
  timed AS (
    SELECT camera, start, duration, CAST(start * 1000 AS INTEGER) AS ms,
           strftime('%Y/%m/%d', start, 'unixepoch') AS day
    FROM seg JOIN cams USING (idx)
  ),
  named AS MATERIALIZED (  -- random() once per row, not once per use
    SELECT camera, start, duration, day,
           printf('%08x-%04x-7%03x-%04x-%012x', ms >> 16, ms & 65535, abs(random()) % 4096,
                  32768 | (abs(random()) % 16384), abs(random()) % 281474976710656) AS id
    FROM timed
  )
INSERT INTO footage (id, camera, path, start, "end", duration, bytes, container, codec,
                     width, height, motion, thumbnail)
SELECT id, camera, camera || '/' || day || '/' || id || '.mp4', start, start + duration,
       duration, 20000000 + abs(random()) % 40000000, 'mp4', 'h264', 1920, 1080,
       (abs(random()) % 10000) / 10000.0, camera || '/' || day || '/' || id || '.jpg'
FROM named
"""

# What add_footage keeps per camera, recomputed from the rows in one statement.
_COUNT = """
UPDATE cameras SET (segments, bytes, seconds, oldest_start, newest_end, last_segment_at) = (
  SELECT count(*), coalesce(sum(bytes), 0), coalesce(sum(duration), 0.0), min(start),
         max("end"), max("end")
  FROM footage WHERE footage.camera = cameras.id)
"""


def load_sqlite(path: Path, cameras: list[str], per_camera: int, now: float) -> dict[str, Any]:
    """Bulk-load the SQLite store; what was loaded and how long it took.

    The first camera's newest segment is indexed through ``Store.add_footage`` on top
    of the bulk rows, so the check below also proves the store's own incremental
    counting agrees with the bulk counters.
    """
    url = f"sqlite:///{path}"
    store = open_store(url)  # the store's own schema and indexes
    register_cameras(store, cameras, now)
    store.close()

    started = time.perf_counter()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")  # setup only; the server uses the store's settings
    db.execute("PRAGMA cache_size = -262144")  # 256 MiB: index pages stay in memory
    db.execute("BEGIN")
    db.execute(
        _GENERATE,
        {
            "cameras": json.dumps(cameras),
            "first": first_start(per_camera, now),
            "segment": float(SEGMENT_SECONDS),
            "per_camera": per_camera,
        },
    )
    db.execute(_COUNT)
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()

    store = open_store(url)
    newest = store.footage_range(cameras[0], limit=1, descending=True).items[0]
    last = segment(cameras[0], newest.end)
    assert store.add_footage(last, now=last.end)
    store.close()
    took = time.perf_counter() - started
    verify_sqlite(path, cameras, now, last)
    return {"url": url, "build_seconds": took, "rows": len(cameras) * per_camera}


def verify_sqlite(path: Path, cameras: list[str], now: float, added: Footage) -> None:
    """The bulk rows are the rows the store writes, and the counters count them."""
    # 1. A row the store wrote (add_footage) and the bulk rows: same columns, same types.
    db = sqlite3.connect(path)
    bulk_ids = [row[0] for row in db.execute("SELECT id FROM footage ORDER BY random() LIMIT 20")]
    db.close()
    reference = _column_types(path, added.id)
    for footage_id in bulk_ids:
        assert _column_types(path, footage_id) == reference, footage_id
    # 2. Bulk rows read through the store follow the layout and the id scheme.
    store = open_store(f"sqlite:///{path}")
    try:
        for footage_id in bulk_ids:
            row = store.get_footage(footage_id)
            assert row is not None
            check_row(row)
        assert store.get_footage(added.id) == added
    finally:
        store.close()
    # 3. Counters equal what they count, including the camera add_footage updated.
    verify_counters(open_store(f"sqlite:///{path}"), _sqlite_truth(path), cameras, [added])


def _column_types(path: Path, footage_id: str) -> dict[str, str]:
    db = sqlite3.connect(path)
    row = db.execute(
        "SELECT "
        + ", ".join(f'typeof("{c}")' for c in _FOOTAGE_COLUMNS)
        + " FROM footage WHERE id = ?",
        (footage_id,),
    ).fetchone()
    db.close()
    return dict(zip(_FOOTAGE_COLUMNS, row, strict=True))


def _sqlite_truth(path: Path) -> Truth:
    db = sqlite3.connect(path)
    rows = db.execute(
        'SELECT camera, count(*), sum(bytes), sum(duration), min(start), max("end") '
        "FROM footage GROUP BY camera"
    ).fetchall()
    db.close()
    return {row[0]: tuple(row[1:]) for row in rows}
