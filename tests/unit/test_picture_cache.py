"""The API's picture cache (used when the footage is read-only) stays bounded: the
oldest thumbnails go once there are too many."""

from __future__ import annotations

import os
from pathlib import Path

from spectare.api.snapshots import prune_folder, to_prune


def test_the_oldest_beyond_the_newest_few_are_pruned() -> None:
    entries = [("c.jpg", 30.0), ("a.jpg", 10.0), ("d.jpg", 40.0), ("b.jpg", 20.0)]
    assert sorted(to_prune(entries, 2)) == ["a.jpg", "b.jpg"]
    assert to_prune(entries, 10) == []


def test_a_cache_folder_is_pruned_to_its_bound(tmp_path: Path) -> None:
    for age, name in enumerate(["new.jpg", "mid.jpg", "old.jpg"]):
        path = tmp_path / name
        path.write_bytes(b"jpeg")
        os.utime(path, (1_000_000 - age * 100, 1_000_000 - age * 100))
    prune_folder(tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mid.jpg", "new.jpg"]
    prune_folder(tmp_path / "missing", 2)  # no cache yet: nothing to do, no error
