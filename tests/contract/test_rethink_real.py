"""The RethinkDB store against a real 2.4 server when writers die and connections fail.

Covers: counters stay exact when a writer is killed between its two writes; no
write fails after every connection dropped (a restart, seen from the client); a
hung server costs a call its deadline and blocks no other thread, a frozen one
fails every call within its deadline; a server that restarts for real, or is
paused then resumed, loses no write and no count; the settings' deadline reaches
the store; the API answers again after the server drops every connection, and
four API processes on a fresh database all become ready. Set-up under
concurrency is in test_rethink_real_setup.py. Each test skips with the reason
when no server is named (SPECTARE_TEST_RETHINKDB, and SPECTARE_TEST_RETHINKDB_BIN
for restarts).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from contract.rethinklib import T0, all_at_once, assert_one_schema, python, segment
from harness.kubeclient import http_ok
from harness.procs import free_port, wait_until
from harness.rethink_server import host_port
from harness.tcpproxy import TcpProxy
from spectare.store import CameraInfo, StoreError
from spectare.store.rethink import RethinkStore, RethinkTarget

pytestmark = pytest.mark.rethinkdb_real


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
