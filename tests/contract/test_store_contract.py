"""The store contract: every backend behaves the same (fixture ``store`` in conftest).

Covers, for SQLite, rethinkdb-mock and (when named) a real RethinkDB: set-up is
idempotent and the store answers a ping; cameras are upserted keeping their
hold and counters, removed, and carry a phase; a camera is grabbed by one
holder at a time (the same holder again, a live holder keeps it, a stale one
loses it, heartbeats keep it fresh, release only by the holder, forced and
stale releases, never two holders at once); footage is added once, read back,
ranged by overlap in order, paged by cursor (every row once, newest first,
across long gaps), refuses a bad cursor and keeps the counters right on delete;
events by camera and time, dropped with their footage.
"""

from __future__ import annotations

import threading
import uuid

import pytest

from spectare.ids import uuid7_at
from spectare.store import CameraInfo, Event, Footage, Store

T0 = 1_800_000_000.0


def segment(camera: str, start: float, duration: float = 10.0, size: int = 1000) -> Footage:
    ident = str(uuid7_at(start))
    return Footage(
        id=ident,
        camera=camera,
        path=f"{camera}/2027/01/15/{ident}.mp4",
        start=start,
        end=start + duration,
        duration=duration,
        bytes=size,
        container="mp4",
        codec="h264",
        width=640,
        height=360,
        motion=0.1,
        thumbnail=f"{camera}/2027/01/15/{ident}.jpg",
    )


class TestSetup:
    def test_setup_is_idempotent(self, store: Store) -> None:
        store.upsert_camera(CameraInfo("a", "A"))
        store.setup()
        store.setup()
        assert [c.id for c in store.list_cameras()] == ["a"]

    def test_ping(self, store: Store) -> None:
        store.ping()


class TestCameras:
    def test_upsert_keeps_hold_and_counters(self, store: Store) -> None:
        store.upsert_camera(CameraInfo("cam", "Cam", url="rtsp://h/1"))
        assert store.grab("cam", "w1", T0, 30)
        store.add_footage(segment("cam", T0), now=T0 + 10)
        store.upsert_camera(CameraInfo("cam", "Renamed", enabled=False, segment_seconds=60))
        record = store.get_camera("cam")
        assert record is not None
        assert (record.display_name, record.enabled, record.segment_seconds) == (
            "Renamed",
            False,
            60,
        )
        assert record.worker == "w1"
        assert record.segments == 1

    def test_unknown_camera(self, store: Store) -> None:
        assert store.get_camera("nope") is None

    def test_remove(self, store: Store) -> None:
        store.upsert_camera(CameraInfo("a", "A"))
        store.remove_camera("a")
        assert store.list_cameras() == []

    def test_phase_and_counters(self, store: Store) -> None:
        store.upsert_camera(CameraInfo("a", "A"))
        store.set_phase("a", "Queued", "waiting for a slot")
        store.bump("a", "restarts")
        store.bump("a", "restarts")
        store.bump("a", "reconnects", 3)
        record = store.get_camera("a")
        assert record is not None
        assert (record.phase, record.message) == ("Queued", "waiting for a slot")
        assert (record.restarts, record.reconnects) == (2, 3)


class TestGrab:
    def test_free_camera_is_grabbed(self, store: Store) -> None:
        assert store.grab("cam", "w1", T0, 30)
        record = store.get_camera("cam")
        assert record is not None and record.worker == "w1"

    def test_same_holder_grabs_again(self, store: Store) -> None:
        assert store.grab("cam", "w1", T0, 30)
        assert store.grab("cam", "w1", T0 + 5, 30)

    def test_live_holder_keeps_it(self, store: Store) -> None:
        assert store.grab("cam", "w1", T0, 30)
        assert not store.grab("cam", "w2", T0 + 29, 30)
        record = store.get_camera("cam")
        assert record is not None and record.worker == "w1"

    def test_stale_holder_loses_it(self, store: Store) -> None:
        assert store.grab("cam", "w1", T0, 30)
        assert store.grab("cam", "w2", T0 + 31, 30)
        assert not store.heartbeat("cam", "w1", T0 + 32, "Recording")
        record = store.get_camera("cam")
        assert record is not None and record.worker == "w2"

    def test_heartbeat_keeps_it_fresh(self, store: Store) -> None:
        assert store.grab("cam", "w1", T0, 30)
        assert store.heartbeat("cam", "w1", T0 + 25, "Recording", None)
        assert not store.grab("cam", "w2", T0 + 50, 30)
        record = store.get_camera("cam")
        assert record is not None and record.phase == "Recording"

    def test_release_only_by_holder(self, store: Store) -> None:
        assert store.grab("cam", "w1", T0, 30)
        assert not store.release("cam", "w2")
        assert store.release("cam", "w1")
        assert store.grab("cam", "w2", T0 + 1, 30)

    def test_forced_release(self, store: Store) -> None:
        assert store.grab("cam", "w1", T0, 30)
        assert store.release("cam")
        assert not store.release("cam")

    def test_release_stale(self, store: Store) -> None:
        store.grab("old", "w1", T0, 30)
        store.grab("new", "w2", T0 + 40, 30)
        assert store.release_stale(T0 + 45, 30) == ["old"]
        old, new = store.get_camera("old"), store.get_camera("new")
        assert old is not None and old.worker is None
        assert new is not None and new.worker == "w2"

    def test_never_two_holders(self, store: Store, store_factory) -> None:  # type: ignore[no-untyped-def]
        """Many contenders at once, each with its own connection: exactly one wins."""
        winners: list[str] = []
        barrier = threading.Barrier(8)

        def contend(worker: str) -> None:
            own = store_factory()
            barrier.wait()
            if own.grab("cam", worker, T0, 30):
                winners.append(worker)
            own.close()

        threads = [threading.Thread(target=contend, args=(f"w{i}",)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        record = store.get_camera("cam")
        assert len(winners) == 1
        assert record is not None and record.worker == winners[0]


class TestFootage:
    def test_add_get_and_counters(self, store: Store) -> None:
        first, second = segment("cam", T0, 10, 100), segment("cam", T0 + 10, 5, 50)
        assert store.add_footage(first, now=T0 + 10)
        assert store.add_footage(second, now=T0 + 15)
        assert store.get_footage(first.id) == first
        record = store.get_camera("cam")
        assert record is not None
        assert (record.segments, record.bytes, record.seconds) == (2, 150, 15.0)
        assert (record.oldest_start, record.newest_end, record.last_segment_at) == (
            T0,
            T0 + 15,
            T0 + 15,
        )

    def test_add_is_idempotent(self, store: Store) -> None:
        item = segment("cam", T0)
        assert store.add_footage(item, now=T0)
        assert not store.add_footage(item, now=T0)
        record = store.get_camera("cam")
        assert record is not None and record.segments == 1

    def test_range_overlap_and_order(self, store: Store) -> None:
        items = [segment("cam", T0 + 10 * i) for i in range(10)]
        for item in reversed(items):
            store.add_footage(item, now=T0)
        store.add_footage(segment("other", T0 + 15), now=T0)
        page = store.footage_range("cam", T0 + 15, T0 + 35)
        # [15, 35) overlaps the segments starting at 10, 20 and 30.
        assert [f.start for f in page.items] == [T0 + 10, T0 + 20, T0 + 30]
        assert page.cursor is None

    def test_cursor_pages_cover_everything_once(self, store: Store) -> None:
        items = [segment("cam", T0 + 10 * i) for i in range(25)]
        for item in items:
            store.add_footage(item, now=T0)
        seen: list[str] = []
        cursor = None
        while True:
            page = store.footage_range("cam", limit=10, cursor=cursor)
            seen += [f.id for f in page.items]
            cursor = page.cursor
            if cursor is None:
                break
        assert seen == [f.id for f in items]

    def test_descending_last_page(self, store: Store) -> None:
        items = [segment("cam", T0 + 10 * i) for i in range(25)]
        for item in items:
            store.add_footage(item, now=T0)
        page = store.footage_range("cam", limit=10, descending=True)
        assert [f.id for f in page.items] == [f.id for f in reversed(items[-10:])]
        page2 = store.footage_range("cam", limit=10, descending=True, cursor=page.cursor)
        assert [f.id for f in page2.items] == [f.id for f in reversed(items[-20:-10])]

    def test_descending_pages_across_a_long_gap(self, store: Store) -> None:
        """Newest first across days without footage (the camera was off)."""
        before = [segment("cam", T0 + 10 * i) for i in range(15)]
        after = [segment("cam", T0 + 1_000_000 + 10 * i) for i in range(10)]
        for item in before + after:
            store.add_footage(item, now=T0)
        page = store.footage_range("cam", limit=12, descending=True)
        assert [f.id for f in page.items] == [f.id for f in reversed((before + after)[-12:])]
        page2 = store.footage_range("cam", limit=12, descending=True, cursor=page.cursor)
        assert [f.id for f in page2.items] == [f.id for f in reversed(before[-15:-2])][:12]
        ranged = store.footage_range("cam", end=T0 + 1_000_000, limit=5, descending=True)
        assert [f.id for f in ranged.items] == [f.id for f in reversed(before[-5:])]

    def test_bad_cursor(self, store: Store) -> None:
        with pytest.raises(ValueError):
            store.footage_range("cam", cursor="!!not-a-cursor")

    def test_delete_updates_counters(self, store: Store) -> None:
        items = [segment("cam", T0 + 10 * i, 10, 100) for i in range(3)]
        for item in items:
            store.add_footage(item, now=T0)
        assert store.delete_footage([items[0].id, str(uuid.uuid4())]) == 1
        assert store.get_footage(items[0].id) is None
        record = store.get_camera("cam")
        assert record is not None
        assert (record.segments, record.bytes, record.oldest_start) == (2, 200, T0 + 10)
        store.delete_footage([items[1].id, items[2].id])
        record = store.get_camera("cam")
        assert record is not None
        assert (record.segments, record.bytes, record.oldest_start) == (0, 0, None)


class TestEvents:
    def test_events_by_camera_and_time(self, store: Store) -> None:
        item = segment("cam", T0)
        store.add_footage(item, now=T0)
        events = [
            Event(str(uuid7_at(T0 + i)), "cam", item.id, T0 + i, T0 + i + 1, 0.5) for i in (0, 5)
        ]
        for event in events:
            store.add_event(event)
            store.add_event(event)
        store.add_event(Event(str(uuid7_at(T0)), "other", item.id, T0, T0 + 1, 0.9))
        assert store.list_events("cam") == events
        assert [e.start for e in store.list_events("cam", T0 + 3, T0 + 10)] == [T0 + 5]
        assert len(store.list_events()) == 3

    def test_deleting_footage_drops_its_events(self, store: Store) -> None:
        item = segment("cam", T0)
        store.add_footage(item, now=T0)
        store.add_event(Event(str(uuid7_at(T0)), "cam", item.id, T0, T0 + 1, 0.5))
        store.delete_footage([item.id])
        assert store.list_events("cam") == []
