"""Setting up one fresh database on a real RethinkDB 2.4 server, as rethinkdb-mock cannot.

Covers: many processes and many threads setting up one fresh database at once
end with exactly one database, one of each table and every index; a process
dying in the middle of set-up leaves nothing another cannot finish; duplicate
tables are refused until the repair command removes them. Each test skips with
the reason when no server is named (SPECTARE_TEST_RETHINKDB).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rethinkdb import r

from contract.rethinklib import T0, all_at_once, assert_one_schema, python, segment, system
from harness.procs import wait_until
from spectare.store import StoreError, rethink_schema
from spectare.store.rethink import RethinkStore, RethinkTarget, open_connection

pytestmark = pytest.mark.rethinkdb_real


# -- 1. set-up under concurrency -------------------------------------------------------------

SETUP_CHILD = """
import sys, time
from pathlib import Path
from spectare.store.rethink import RethinkStore
url, go = sys.argv[1], Path(sys.argv[2])
store = RethinkStore(url)
Path(f"{go}.{sys.argv[3]}").touch()  # started
while not go.exists():  # all children start set-up at the same moment
    time.sleep(0.005)
store.setup()
store.upsert_camera(__import__("spectare.store", fromlist=["CameraInfo"]).CameraInfo(
    sys.argv[3], sys.argv[3]))
store.close()
print("ready")
"""


@pytest.mark.parametrize("round_", range(3))
def test_many_processes_set_up_one_fresh_database(
    real_rethink: str, tmp_path: Path, round_: int
) -> None:
    go = tmp_path / "go"
    children = [python(SETUP_CHILD, real_rethink, str(go), f"cam{i}") for i in range(6)]
    # Every child started before any sets up, so that the set-ups really overlap.
    wait_until(lambda: len(list(tmp_path.glob("go.cam*"))) == 6, 60, "children started")
    go.touch()
    for child in children:
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err[-3000:]
        assert out.strip() == "ready"
    assert_one_schema(real_rethink)
    store = RethinkStore(real_rethink)
    assert sorted(c.id for c in store.list_cameras()) == [f"cam{i}" for i in range(6)]
    store.close()


def test_threads_set_up_one_fresh_database(real_rethink: str) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def part() -> None:
        store = RethinkStore(real_rethink)
        barrier.wait()
        try:
            store.setup()
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    all_at_once([part] * 8)
    assert not errors
    assert_one_schema(real_rethink)


DYING_CHILD = """
import os, sys
from rethinkdb import r
from spectare.store.rethink import RethinkStore
store = RethinkStore(sys.argv[1])
schema = store.schema
schema.inspect()
assert schema._claim()
store._runner.run(r.db_create(schema.db))
store._runner.run(r.db(schema.db).table_create("cameras"))
print("claimed", flush=True)
os._exit(9)  # dies holding the lock, the schema half made
"""


def test_set_up_survives_a_part_dying_in_the_middle(
    real_rethink: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    child = python(DYING_CHILD, real_rethink)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 9 and "claimed" in out, err[-3000:]
    monkeypatch.setattr(rethink_schema, "LOCK_STALE", 2.0)
    store = RethinkStore(real_rethink)
    started = time.monotonic()
    store.setup()
    assert time.monotonic() - started < 60
    assert_one_schema(real_rethink)
    store.close()


def make_duplicates(url: str) -> None:
    """Race raw table_create calls until the database holds two tables named footage."""
    target = RethinkTarget.parse(url)
    conn = open_connection(target)
    r.db_create(target.db).run(conn)
    for _ in range(20):
        barrier = threading.Barrier(6)

        def create(barrier: threading.Barrier = barrier) -> None:
            own = open_connection(target)
            barrier.wait()
            try:
                r.db(target.db).table_create("footage").run(own)
            except Exception:
                pass  # "already exists": the race was lost cleanly
            finally:
                own.close()

        all_at_once([create] * 6)
        if len(system(url, "table_config")) > 1:  # table_list shows a name once
            conn.close()
            return
        r.db(target.db).table_drop("footage").run(conn)
    conn.close()
    pytest.fail("could not make duplicate tables in 20 tries")


def test_duplicates_are_refused_then_repaired_by_the_command(real_rethink: str) -> None:
    """Duplicates made by racing creates (as set-up did before its lock) are refused with
    the command that repairs them, and that command leaves one of each table.

    (Duplicates are born empty: while two tables share a name no query can write to
    either, and on a real server no write landed in the creation window in 15 tries.
    The repair still copies rows from every copy into the one it keeps.)"""
    make_duplicates(real_rethink)
    store = RethinkStore(real_rethink)
    with pytest.raises(StoreError, match="spectare store repair"):
        store.setup()
    env = {**os.environ, "SPECTARE_STORE": real_rethink}
    done = subprocess.run(
        [sys.executable, "-P", "-m", "spectare", "store", "repair"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "merged 0 rows of a duplicate footage" in done.stdout
    store.setup()
    assert_one_schema(real_rethink)
    item = segment("cam", T0)
    assert store.add_footage(item, now=T0)
    assert [f.id for f in store.footage_range("cam").items] == [item.id]
    store.close()
