"""What only the RethinkDB backend has: reconnection, credentials in its URL, index scans.

These run against rethinkdb-mock through ``harness.rethink.MockServer``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import rethinkdb.ast as r_ast
from rethinkdb.errors import ReqlDriverError

from harness.procs import wait_until
from harness.rethink_mock import MOCK_URL, MockServer
from spectare.ids import uuid7_at
from spectare.store import CameraInfo, Footage, StoreError
from spectare.store.rethink import RethinkStore

T0 = 1_800_000_000.0
PASSWORD = "s3cret-Pa55word"


def segment(camera: str, start: float) -> Footage:
    ident = str(uuid7_at(start))
    return Footage(ident, camera, f"{camera}/{ident}.mp4", start, start + 10, 10.0, 100, "mp4")


@pytest.fixture
def server() -> MockServer:
    return MockServer()


@pytest.fixture
def mock_store(server: MockServer) -> Iterator[RethinkStore]:
    store = RethinkStore(MOCK_URL, connect=server.connect)
    store.setup()
    yield store
    store.close()


class TestConnectionLoss:
    def test_read_reconnects_transparently(
        self, server: MockServer, mock_store: RethinkStore
    ) -> None:
        mock_store.upsert_camera(CameraInfo("cam", "Cam"))
        server.connections[-1].drop()
        record = mock_store.get_camera("cam")
        assert record is not None and record.display_name == "Cam"
        assert len(server.connections) == 2

    def test_repeatable_write_is_retried_after_a_lost_reply(
        self, server: MockServer, mock_store: RethinkStore
    ) -> None:
        server.connections[-1].drop(after_apply=True)
        assert mock_store.grab("cam", "w1", T0, 30)  # the repeat finds the camera ours
        record = mock_store.get_camera("cam")
        assert record is not None and record.worker == "w1"

    def test_counting_write_is_not_repeated(
        self, server: MockServer, mock_store: RethinkStore
    ) -> None:
        mock_store.upsert_camera(CameraInfo("cam", "Cam"))
        server.connections[-1].drop(after_apply=True)
        with pytest.raises(StoreError, match="may or may not have been applied"):
            mock_store.bump("cam", "restarts")
        record = mock_store.get_camera("cam")  # and the store works again
        assert record is not None and record.restarts == 1

    def test_closed_store_refuses_queries(self, mock_store: RethinkStore) -> None:
        mock_store.close()
        with pytest.raises(StoreError, match="closed"):
            mock_store.ping()


class TestCredentials:
    URL = f"rethinkdb://admin:{PASSWORD}@127.0.0.1:1/spectare?timeout=2"

    def test_unreachable_server_error_shows_no_password(self) -> None:
        store = RethinkStore(self.URL)  # the real driver; nothing listens on port 1
        with pytest.raises(StoreError) as caught:
            store.ping()
        assert "127.0.0.1:1/spectare" in str(caught.value)
        self.assert_hidden(caught.value, repr(store))

    def test_driver_message_quoting_the_url_is_scrubbed(self) -> None:
        def connect() -> Any:
            raise ReqlDriverError(f"cannot reach {self.URL}")

        with pytest.raises(StoreError) as caught:
            RethinkStore(self.URL, connect=connect).ping()
        self.assert_hidden(caught.value)

    def test_invalid_url_error_shows_no_password(self) -> None:
        with pytest.raises(StoreError) as caught:
            RethinkStore(f"rethinkdb://admin:{PASSWORD}@host:notaport/spectare")
        self.assert_hidden(caught.value)

    @staticmethod
    def assert_hidden(error: StoreError, *more: str) -> None:
        for text in (str(error), repr(error), *more):
            assert PASSWORD not in text


def chain(term: Any) -> list[tuple[str, dict[str, Any]]]:
    """A query as (term name, options) from its outermost term down to r.db(), without
    the coerce_to that makes the server answer in one batch."""
    links = []
    while isinstance(term, r_ast.RqlQuery) and term._args:
        options = {k: getattr(v, "data", v) for k, v in term.optargs.items()}
        if isinstance(options.get("index"), r_ast.Desc):
            options["index"] = ("desc", options["index"]._args[0].data)
        if not isinstance(term, r_ast.CoerceTo):
            links.append((type(term).__name__, options))
        term = term._args[0]
    return links


def scans(server: MockServer) -> list[Any]:
    """The range scans among the queries the server received."""
    return [q for q in server.queries if "between" in str(q)]


class TestIndexScans:
    @pytest.mark.parametrize("descending", [False, True])
    def test_footage_range_is_one_ordered_scan_of_camera_start(
        self, server: MockServer, mock_store: RethinkStore, descending: bool
    ) -> None:
        for i in range(3):
            mock_store.add_footage(segment("cam", T0 + 10 * i), now=T0)
        page = mock_store.footage_range("cam", T0 + 5, T0 + 25, limit=1, descending=descending)
        mock_store.footage_range("cam", T0 + 5, T0 + 25, limit=1, cursor=page.cursor,
                                 descending=descending)  # fmt: skip
        for term in scans(server)[-2:]:
            links = chain(term)
            names = [name for name, _ in links]
            assert names == ["Limit", "Filter", "OrderBy", "Between", "Table", "DB"]
            order, between = links[2][1], links[3][1]
            assert between["index"] == "camera_start"
            assert order["index"] == (("desc", "camera_start") if descending else "camera_start")

    def test_events_without_a_camera_scan_the_start_index(
        self, server: MockServer, mock_store: RethinkStore
    ) -> None:
        mock_store.list_events(start=T0, end=T0 + 60)
        links = chain(scans(server)[-1])
        assert [name for name, _ in links][:4] == ["Limit", "Filter", "OrderBy", "Between"]
        assert links[3][1]["index"] == "start"


class TestRaces:
    def test_oldest_start_survives_an_add_during_its_recomputation(
        self, server: MockServer, mock_store: RethinkStore
    ) -> None:
        """An older segment indexed between the index read and the row write is kept."""
        items = [segment("cam", T0 + 10 * i) for i in range(3)]
        for item in items:
            mock_store.add_footage(item, now=T0)
        other = RethinkStore(MOCK_URL, connect=server.connect)
        late = segment("cam", T0 - 100)

        def slip_in(term: Any) -> None:
            if "pluck" in str(term) and server.after_query is not None:
                server.after_query = None
                other.add_footage(late, now=T0)

        server.after_query = slip_in
        assert mock_store.delete_footage([items[0].id]) == 1
        record = mock_store.get_camera("cam")
        assert record is not None
        assert (record.segments, record.oldest_start) == (3, late.start)


class Crash(BaseException):
    """A writer dying in the middle of a store call (nothing after it runs)."""


def crash_on(store: RethinkStore, step: str, allowed: int = 0) -> None:
    """Make the store's ``step`` die on its call number ``allowed + 1``."""
    original, calls = getattr(store, step), [0]

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if calls[0] > allowed:
            raise Crash(step)
        return original(*args, **kwargs)

    setattr(store, step, dying)


class TestCountingAfterACrash:
    """A footage row and its counters are two writes; a crash between them is mended.

    The kill of a real process is in test_rethink_real.py; here the crash is an
    exception that stops the call, on the mock."""

    @pytest.mark.parametrize(("step", "allowed"), [("_swap", 0), ("_done", 0)])
    def test_add_interrupted_then_reconciled(
        self, server: MockServer, mock_store: RethinkStore, step: str, allowed: int
    ) -> None:
        first, second = segment("cam", T0), segment("cam", T0 + 10)
        mock_store.add_footage(first, now=T0)
        dying = RethinkStore(MOCK_URL, connect=server.connect)
        crash_on(dying, step, allowed)
        with pytest.raises(Crash):
            dying.add_footage(second, now=T0)
        assert mock_store.reconcile("cam")
        assert not mock_store.reconcile("cam")  # nothing left to mend
        record = mock_store.get_camera("cam")
        assert record is not None and (record.segments, record.bytes) == (2, 200)

    def test_add_interrupted_then_retried(
        self, server: MockServer, mock_store: RethinkStore
    ) -> None:
        item = segment("cam", T0)
        dying = RethinkStore(MOCK_URL, connect=server.connect)
        crash_on(dying, "_swap")
        with pytest.raises(Crash):
            dying.add_footage(item, now=T0)
        assert mock_store.add_footage(item, now=T0)  # the retry finishes the count
        assert not mock_store.add_footage(item, now=T0)
        record = mock_store.get_camera("cam")
        assert record is not None and (record.segments, record.bytes) == (1, 100)

    @pytest.mark.parametrize(("step", "allowed"), [("_write", 1), ("_uncount", 0)])
    def test_delete_interrupted_is_mended_by_the_next_count(
        self, server: MockServer, mock_store: RethinkStore, step: str, allowed: int
    ) -> None:
        items = [segment("cam", T0 + 10 * i) for i in range(3)]
        for item in items:
            mock_store.add_footage(item, now=T0)
        dying = RethinkStore(MOCK_URL, connect=server.connect)
        crash_on(dying, step, allowed)
        with pytest.raises(Crash):
            dying.delete_footage([items[0].id])
        mock_store.add_footage(segment("cam", T0 + 30), now=T0)
        record = mock_store.get_camera("cam")
        rows = mock_store.footage_range("cam").items
        assert record is not None
        assert (record.segments, record.bytes) == (len(rows), 100 * len(rows))
        assert record.oldest_start == rows[0].start


class TestQueryShape:
    def test_counting_write_carries_the_default_camera_once(
        self, server: MockServer, mock_store: RethinkStore
    ) -> None:
        mock_store.add_footage(segment("cam", T0), now=T0)
        writes = [str(q) for q in server.queries if "footage_rev" in str(q)]
        assert writes and all(text.count("display_name") == 1 for text in writes), writes

    def test_a_stuck_call_blocks_no_other_thread(
        self, server: MockServer, mock_store: RethinkStore
    ) -> None:
        mock_store.upsert_camera(CameraInfo("cam", "Cam"))
        inside, release = threading.Event(), threading.Event()

        def hold(term: Any) -> None:
            if threading.current_thread().name == "stuck":
                inside.set()
                release.wait(10)

        server.after_query = hold
        stuck = threading.Thread(target=lambda: mock_store.get_camera("cam"), name="stuck")
        stuck.start()
        assert inside.wait(10)
        assert mock_store.get_camera("cam") is not None  # not behind the stuck call
        release.set()
        stuck.join(10)


class TestDeadPeers:
    def test_a_socket_the_server_closed_is_seen_before_sending(self) -> None:
        from spectare.store.rethink_conn import peer_hung_up

        server = socket.create_server(("127.0.0.1", 0))
        client = socket.create_connection(server.getsockname())
        accepted, _ = server.accept()

        class Fake:
            def __init__(self, sock: socket.socket) -> None:
                self._instance = type("I", (), {"_socket": type("W", (), {"_socket": sock})})

            def is_open(self) -> bool:
                return True  # what the driver says, whatever the socket's state

        conn = Fake(client)
        assert not peer_hung_up(conn)
        accepted.close()  # the server goes away
        # The FIN travels over loopback.
        wait_until(lambda: peer_hung_up(conn), 5, "the hang-up to be seen", interval=0.01)
        client.close()
        server.close()
