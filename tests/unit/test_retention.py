"""Which segments retention drops, and dropping them with files and rows together."""

from __future__ import annotations

from pathlib import Path

from spectare.camera import RetentionView
from spectare.ids import uuid7_at
from spectare.model import Retention
from spectare.store import Footage, Store
from spectare.worker.retention import DAY, apply_retention, plan_retention

NOW = 1_800_000_000.0


def seg(start: float, size: int = 100, camera: str = "cam") -> Footage:
    ident = str(uuid7_at(start))
    return Footage(ident, camera, f"{camera}/x/{ident}.mp4", start, start + 10, 10.0, size, "mp4",
                   thumbnail=f"{camera}/x/{ident}.jpg")  # fmt: skip


class TestPlan:
    def test_no_policy_drops_nothing(self) -> None:
        items = [seg(NOW - 100 * DAY)]
        assert plan_retention(items, 100, RetentionView(), NOW) == []

    def test_days_drop_what_ended_before_the_cutoff(self) -> None:
        items = [seg(NOW - 3 * DAY), seg(NOW - 2 * DAY - 20), seg(NOW - DAY)]
        assert plan_retention(items, 300, RetentionView(days=2), NOW) == items[:2]

    def test_bytes_drop_oldest_until_under_the_cap(self) -> None:
        items = [seg(NOW - 30 + i, size=100) for i in range(5)]
        assert plan_retention(items, 500, RetentionView(max_bytes=250), NOW) == items[:3]

    def test_quantity_units(self) -> None:
        assert Retention(maxBytes="1Ki").max_bytes_int == 1024
        assert Retention(maxBytes="2G").max_bytes_int == 2_000_000_000

    def test_empty_index_drops_nothing(self) -> None:
        assert plan_retention([], 0, RetentionView(days=1, max_bytes=1), NOW) == []


def write(root: Path, item: Footage) -> None:
    for rel in (item.path, item.thumbnail):
        assert rel
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"x" * item.bytes)


class TestApply:
    def test_drops_files_and_rows_together(self, sqlite_store: Store, tmp_path: Path) -> None:
        items = [seg(NOW - 10 * DAY + i * 10) for i in range(450)] + [seg(NOW - 60)]
        for item in items:
            write(tmp_path, item)
            sqlite_store.add_footage(item, now=NOW)
        dropped = apply_retention(sqlite_store, tmp_path, "cam", RetentionView(days=7), NOW)
        assert dropped == 450
        assert [f.id for f in sqlite_store.footage_range("cam", limit=10).items] == [items[-1].id]
        assert not (tmp_path / items[0].path).exists()
        assert not (tmp_path / str(items[0].thumbnail)).exists()
        assert (tmp_path / items[-1].path).exists()
        record = sqlite_store.get_camera("cam")
        assert record is not None and (record.segments, record.bytes) == (1, 100)

    def test_by_bytes(self, sqlite_store: Store, tmp_path: Path) -> None:
        items = [seg(NOW - 100 + i * 10, size=100) for i in range(10)]
        for item in items:
            write(tmp_path, item)
            sqlite_store.add_footage(item, now=NOW)
        apply_retention(sqlite_store, tmp_path, "cam", RetentionView(max_bytes=350), NOW)
        kept = sqlite_store.footage_range("cam").items
        assert [f.id for f in kept] == [f.id for f in items[-3:]]
        assert sorted(p.name for p in tmp_path.rglob("*.mp4")) == sorted(
            Path(f.path).name for f in kept
        )

    def test_empty_index_never_deletes_files(
        self, sqlite_store: Store, tmp_path: Path, caplog: object
    ) -> None:
        """frigate#7838: an empty index must not be read as 'every file is an orphan'."""
        items = [seg(NOW - 30 * DAY + i) for i in range(3)]
        for item in items:
            (tmp_path / "cam" / "2027" / "01" / "15").mkdir(parents=True, exist_ok=True)
            (tmp_path / "cam" / "2027" / "01" / "15" / f"{item.id}.mp4").write_bytes(b"x")
        policy = RetentionView(days=1, max_bytes=1)
        assert apply_retention(sqlite_store, tmp_path, "cam", policy, NOW) == 0
        assert len(list(tmp_path.rglob("*.mp4"))) == 3
