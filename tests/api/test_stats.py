"""The stats document is a pure function of the camera rows, their counters and the clock."""

from __future__ import annotations

import time
from dataclasses import asdict

from spectare.api.stats import camera_stats, is_orphaned, summarise
from spectare.store import CameraRecord, Footage
from spectare.store.sqlite import SQLiteStore

NOW = 1_750_000_000.0
STALE = 30.0


def cam(id: str, **fields: object) -> CameraRecord:
    return CameraRecord(id=id, **fields)  # type: ignore[arg-type]


def test_empty_system() -> None:
    stats = summarise([], NOW, STALE)
    assert stats.cameras.total == 0
    assert stats.workers == 0
    assert stats.footage.count == 0 and stats.footage.bytes == 0
    assert stats.footage.oldest is None and stats.footage.newest is None
    assert stats.per_camera == []
    assert set(stats.cameras.phases) >= {"Pending", "Recording", "Queued", "Disabled"}


def test_states_are_counted_by_their_rules() -> None:
    cameras = [
        cam("a", worker="w1", heartbeat=NOW - 1, phase="Recording"),  # recording
        cam("b", worker="w1", heartbeat=NOW - STALE - 1, phase="Recording"),  # orphaned
        cam("c", worker="w2", heartbeat=None, phase="Starting"),  # orphaned: never beat
        cam("d", phase="Queued"),
        cam("e", enabled=False, phase="Disabled"),
        cam("f", phase="Recording"),  # stale phase left behind, nobody holds it
        cam("g", worker="w3", heartbeat=NOW - STALE, phase="Reconnecting"),  # exactly at limit
    ]
    stats = summarise(cameras, NOW, STALE)
    totals = stats.cameras
    assert totals.total == 7
    assert totals.recording == 1
    assert totals.grabbed == 4
    assert totals.orphaned == 2
    assert totals.queued == 1
    assert totals.disabled == 1
    assert totals.phases["Recording"] == 3
    assert stats.workers == 3  # w1, w2, w3
    by_id = {c.id: c for c in stats.per_camera}
    assert by_id["a"].recording and not by_id["a"].orphaned
    assert by_id["b"].orphaned and not by_id["b"].recording
    assert by_id["c"].orphaned
    assert not by_id["f"].recording and not by_id["f"].grabbed
    # The store steals a hold when heartbeat < now - stale: at the limit it is still live.
    assert not by_id["g"].orphaned


def test_orphaned_matches_the_grab_rule() -> None:
    assert not is_orphaned(cam("x"), NOW, STALE)
    assert is_orphaned(cam("x", worker="w", heartbeat=NOW - 31), NOW, STALE)
    assert not is_orphaned(cam("x", worker="w", heartbeat=NOW - 29), NOW, STALE)


def test_footage_totals_and_ages() -> None:
    cameras = [
        cam(
            "a",
            segments=10,
            bytes=1000,
            seconds=3000.0,
            oldest_start=NOW - 9000,
            newest_end=NOW - 60,
            last_segment_at=NOW - 55,
            heartbeat=NOW - 2,
            worker="w",
        ),
        cam(
            "b",
            segments=2,
            bytes=50,
            seconds=600.0,
            oldest_start=NOW - 100_000,
            newest_end=NOW - 50_000,
            last_segment_at=NOW - 50_000,
        ),
        cam("c"),
    ]
    stats = summarise(cameras, NOW, STALE)
    assert stats.footage.count == 12
    assert stats.footage.bytes == 1050
    assert stats.footage.seconds == 3600.0
    assert stats.footage.oldest == NOW - 100_000
    assert stats.footage.newest == NOW - 60
    a = stats.per_camera[0]
    assert a.seconds_since_last_segment == 55
    assert a.heartbeat_age == 2
    assert stats.per_camera[2].seconds_since_last_segment is None
    assert stats.per_camera[2].footage.oldest is None


def test_ages_never_negative_with_clock_skew() -> None:
    stats = camera_stats(cam("a", last_segment_at=NOW + 5, heartbeat=NOW + 1), NOW, STALE)
    assert stats.seconds_since_last_segment == 0
    assert stats.heartbeat_age == 0


def test_display_name_defaults_to_id() -> None:
    assert camera_stats(cam("porch"), NOW, STALE).display_name == "porch"
    assert camera_stats(cam("porch", display_name="Porch"), NOW, STALE).display_name == "Porch"


def test_counters_kept_by_the_store_agree_with_the_footage(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The summary reads counters; check them against the rows they count."""
    store = SQLiteStore(tmp_path / "s.db")
    store.setup()
    rows = [
        Footage(
            id=f"id-{i}",
            camera="a" if i % 3 else "b",
            path=f"p{i}.mp4",
            start=NOW + i * 10,
            end=NOW + i * 10 + 9.5,
            duration=9.5,
            bytes=100 + i,
            container="mp4",
        )
        for i in range(30)
    ]
    for row in rows:
        store.add_footage(row, now=row.end)
    store.delete_footage(["id-1", "id-3"])
    kept = [r for r in rows if r.id not in ("id-1", "id-3")]
    stats = summarise(store.list_cameras(), NOW + 1000, STALE)
    assert stats.footage.count == len(kept)
    assert stats.footage.bytes == sum(r.bytes for r in kept)
    assert abs(stats.footage.seconds - sum(r.duration for r in kept)) < 1e-6
    assert stats.footage.oldest == min(r.start for r in kept)
    assert stats.footage.newest == max(r.end for r in kept)
    store.close()


def test_summary_is_fast_at_many_cameras() -> None:
    cameras = [
        cam(
            f"c{i}",
            segments=20_000,
            bytes=10**9,
            seconds=6e6,
            worker=f"w{i % 7}",
            heartbeat=NOW,
            phase="Recording",
        )
        for i in range(500)
    ]
    started = time.perf_counter()
    stats = summarise(cameras, NOW, STALE)
    assert time.perf_counter() - started < 0.05
    assert stats.footage.count == 10_000_000
    assert asdict(stats)["cameras"]["recording"] == 500
