"""The RethinkDB store against a real 2.4 server: what rethinkdb-mock cannot reproduce.

Many processes setting up one fresh database at once, a part dying mid set-up,
duplicate tables, a writer killed between its two writes, a server whose
connections all drop (a restart, seen from the client), a server that restarts for
real, and one that stops answering. Each test skips with the reason when no server
is named (SPECTARE_TEST_RETHINKDB, and SPECTARE_TEST_RETHINKDB_BIN for restarts).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rethinkdb import r

from harness.kubeclient import http_ok
from harness.procs import free_port, wait_until
from harness.rethink import host_port
from harness.tcpproxy import TcpProxy
from spectare.ids import uuid7_at
from spectare.store import CameraInfo, Footage, StoreError, rethink_schema
from spectare.store.rethink import RethinkStore, RethinkTarget, open_connection
from spectare.store.rethink_schema import INDEXES, TABLES

pytestmark = pytest.mark.rethinkdb_real

T0 = 1_800_000_000.0


def all_at_once(calls: list[Callable[[], None]]) -> None:
    """Run ``calls`` in threads started together; return when all have ended."""
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def segment(camera: str, start: float, size: int = 100) -> Footage:
    ident = str(uuid7_at(start))
    return Footage(ident, camera, f"{camera}/{ident}.mp4", start, start + 10, 10.0, size, "mp4")


def system(url: str, table: str) -> list[dict[str, Any]]:
    """Rows of a system table about the URL's database."""
    target = RethinkTarget.parse(url)
    conn = open_connection(target)
    try:
        rows = r.db("rethinkdb").table(table).run(conn)
        return [row for row in rows if row.get("db", row.get("name")) == target.db]
    finally:
        conn.close()


def assert_one_schema(url: str) -> None:
    """Exactly one database, one of each table, every index, all tables ready."""
    target = RethinkTarget.parse(url)
    dbs = [row for row in system(url, "db_config") if row["name"] == target.db]
    assert len(dbs) == 1, dbs
    tables = Counter(row["name"] for row in system(url, "table_config"))
    assert tables == Counter(TABLES), tables
    conn = open_connection(target)
    try:
        for table, indexes in INDEXES.items():
            present = set(r.db(target.db).table(table).index_list().run(conn))
            assert {name for name, _ in indexes} <= present
        statuses = system(url, "table_status")
        assert all(s["status"]["ready_for_writes"] for s in statuses), statuses
        lock = target.db + rethink_schema.LOCK_SUFFIX
        assert lock not in r.db_list().run(conn)
    finally:
        conn.close()


def python(code: str, *args: str) -> subprocess.Popen[str]:
    """A Python child running ``code`` with ``args`` in sys.argv."""
    return subprocess.Popen(
        [sys.executable, "-P", "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


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


# -- 2. counters after a kill between the two writes ------------------------------------------

KILLED_WRITER = """
import os, signal, sys
from spectare.ids import uuid7_at
from spectare.store import Footage
from spectare.store.rethink import RethinkStore
url, step = sys.argv[1], sys.argv[2]
store = RethinkStore(url)
def seg(start, size):
    i = str(uuid7_at(start))
    return Footage(i, "cam", f"cam/{i}.mp4", start, start + 10, 10.0, size, "mp4")
first = seg(1_800_000_000.0, 100)
store.add_footage(first, now=1_800_000_010.0)
original, calls = getattr(store, step), [0]
def die(*args, **kwargs):
    calls[0] += 1
    if calls[0] > int(sys.argv[4]):  # this call of that step never happens
        os.kill(os.getpid(), signal.SIGKILL)
    return original(*args, **kwargs)
setattr(store, step, die)
if sys.argv[3] == "add":
    store.add_footage(seg(1_800_000_010.0, 50), now=1_800_000_020.0)
else:
    store.delete_footage([first.id])
"""


@pytest.mark.parametrize(
    ("step", "allowed", "action", "expected"),
    [
        ("_swap", 0, "add", (2, 150)),  # killed after the footage row, before the count
        ("_done", 0, "add", (2, 150)),  # killed after the count, before marking it done
        ("_write", 1, "delete", (1, 100)),  # after marking the camera, before the delete
        ("_uncount", 0, "delete", (0, 0)),  # after the delete, before the uncount
    ],
)
def test_counters_are_exact_after_a_writer_is_killed_between_its_writes(
    real_rethink: str, step: str, allowed: int, action: str, expected: tuple[int, int]
) -> None:
    store = RethinkStore(real_rethink)
    store.setup()
    child = python(KILLED_WRITER, real_rethink, step, action, str(allowed))
    child.communicate(timeout=120)
    assert child.returncode == -9
    store.reconcile("cam")  # what a restarted worker does first
    record = store.get_camera("cam")
    assert record is not None
    rows = store.footage_range("cam").items
    assert (record.segments, record.bytes) == (len(rows), sum(f.bytes for f in rows))
    assert (record.segments, record.bytes) == expected
    store.close()


# -- 4. the server going away or hanging ----------------------------------------------------


@pytest.fixture
def proxy(real_rethink: str) -> Any:
    host, port = host_port(real_rethink)
    with TcpProxy(host, port) as proxied:
        yield proxied


def via(proxy: TcpProxy, url: str) -> str:
    return proxy.url(RethinkTarget.parse(url).db)


def test_no_write_fails_after_every_connection_dropped(real_rethink: str, proxy: TcpProxy) -> None:
    store = RethinkStore(via(proxy, real_rethink))
    store.setup()
    store.upsert_camera(CameraInfo("cam", "Cam"))
    assert store.grab("cam", "w1", T0, 30)
    items = [segment("cam", T0 + 10 * i) for i in range(3)]
    # Each write is one that is never repeated after a lost reply: it must not even
    # be tried on a connection that died while idle.
    writes = [
        lambda: store.add_footage(items[0], now=T0),
        lambda: store.bump("cam", "restarts"),
        lambda: store.add_footage(items[1], now=T0),
        lambda: store.delete_footage([items[0].id]),
        lambda: store.release_stale(T0 + 1000, 30),
    ]
    for write in writes:
        proxy.drop()
        write()
    record = store.get_camera("cam")
    assert record is not None
    assert (record.segments, record.restarts, record.worker) == (1, 1, None)
    store.close()


def test_a_hung_server_costs_a_call_its_deadline_and_blocks_no_other_thread(
    real_rethink: str, proxy: TcpProxy
) -> None:
    store = RethinkStore(via(proxy, real_rethink), deadline=2.0)
    store.setup()
    store.upsert_camera(CameraInfo("cam", "Cam"))
    proxy.freeze(new_too=False)  # the open connection hangs; new ones still work
    stuck: dict[str, Any] = {}

    def call() -> None:
        started = time.monotonic()
        try:
            store.get_camera("cam")
        except StoreError as exc:
            stuck["error"] = exc
        stuck["took"] = time.monotonic() - started

    thread = threading.Thread(target=call)
    thread.start()
    wait_until(lambda: proxy.connections() >= 1, 5, "the stuck call")
    started = time.monotonic()
    assert store.get_camera("cam") is not None  # another thread, its own connection
    assert time.monotonic() - started < 1.0
    thread.join(10)
    assert "did not answer within 2 s" in str(stuck["error"])
    assert 1.9 <= stuck["took"] < 3.5
    proxy.thaw()
    store.close()


def test_a_frozen_server_fails_every_call_within_its_deadline(
    real_rethink: str, proxy: TcpProxy
) -> None:
    store = RethinkStore(via(proxy, real_rethink), deadline=1.5)
    store.setup()
    proxy.freeze(new_too=True)
    for call in (lambda: store.ping(), lambda: store.bump("cam", "restarts")):
        started = time.monotonic()
        with pytest.raises(StoreError):
            call()
        assert time.monotonic() - started < 3.0
    proxy.thaw()
    proxy.drop()
    store.ping()
    store.close()


def test_real_restart_loses_no_write_and_no_count(own_rethink: Any) -> None:
    url = own_rethink.url + "/spectare"
    store = RethinkStore(url, deadline=30.0)
    store.setup()
    items = [segment("cam", T0 + 10 * i, size=10 + i) for i in range(4)]
    store.add_footage(items[0], now=T0)
    own_rethink.restart()
    # The first writes after a restart: idle connections are dead, tables come back
    # one by one; none of this may fail or miscount.
    store.add_footage(items[1], now=T0)
    store.bump("cam", "restarts")
    own_rethink.restart()
    store.add_footage(items[2], now=T0)
    store.add_footage(items[3], now=T0)
    record = store.get_camera("cam")
    assert record is not None
    assert (record.segments, record.bytes, record.restarts) == (4, 46, 1)
    store.close()


def test_a_paused_server_then_resumed(own_rethink: Any) -> None:
    store = RethinkStore(own_rethink.url + "/spectare", deadline=1.5)
    store.setup()
    own_rethink.pause()
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="did not answer"):
            store.ping()
        # The deadline (1.5 s), with room for a loaded machine: never the OS's minutes.
        assert time.monotonic() - started < 5.0
    finally:
        own_rethink.resume()
    store.ping()
    store.close()


def test_settings_deadline_reaches_the_store(real_rethink: str) -> None:
    from spectare.store import open_store

    store = open_store(real_rethink, deadline=3.5)
    assert isinstance(store, RethinkStore)
    assert store._runner.deadline == 3.5
    store.close()


def test_api_answers_again_after_the_server_drops_every_connection(
    real_rethink: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    from spectare.api.app import create_app
    from spectare.settings import load_settings

    url = via(proxy, real_rethink)
    settings = load_settings(store=url, footage_dir=tmp_path)
    app = create_app(settings)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    for _ in range(3):
        proxy.drop()
        assert client.get("/api/v1/cameras").status_code == 200
    assert client.get("/readyz").status_code == 200


def test_four_api_processes_on_a_fresh_database_all_become_ready(
    real_rethink: str, tmp_path: Path
) -> None:
    """What `helm install` does: several parts open one fresh database at once, probed
    in parallel as kubelets do; every one must become ready."""
    ports = [free_port() for _ in range(4)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTARE_")}
    children = []
    for port in ports:
        child_env = {**env, "SPECTARE_STORE": real_rethink, "SPECTARE_API_PORT": str(port),
                     "SPECTARE_FOOTAGE_DIR": str(tmp_path / "footage")}  # fmt: skip
        log = (tmp_path / f"api-{port}.log").open("wb")
        children.append(
            subprocess.Popen(
                [sys.executable, "-P", "-m", "spectare", "api"],
                env=child_env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        log.close()

    try:
        statuses: dict[int, bool] = {}

        def probe(port: int) -> None:
            try:
                wait_until(
                    lambda: http_ok(f"http://127.0.0.1:{port}/readyz"),
                    120,
                    f"the API on port {port} ready",
                    interval=0.2,
                )
                statuses[port] = True
            except TimeoutError:
                statuses[port] = False

        all_at_once([functools.partial(probe, port) for port in ports])
        assert all(statuses.values()), statuses
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    assert_one_schema(real_rethink)
