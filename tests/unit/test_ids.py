"""Segment ids are UUIDv7 carrying the segment's start, so names sort by time."""

from __future__ import annotations

import uuid

import pytest

from spectare.ids import uuid7_at, uuid7_time


def test_version_variant_and_time() -> None:
    ident = uuid7_at(1_800_000_000.123)
    assert ident.version == 7 and ident.variant == uuid.RFC_4122
    assert uuid7_time(ident) == pytest.approx(1_800_000_000.123, abs=0.001)


def test_sorted_by_time_and_unique() -> None:
    ids = [str(uuid7_at(1_800_000_000 + i * 0.5)) for i in range(100)]
    assert ids == sorted(ids) and len(set(ids)) == 100
    assert len({uuid7_at(1_800_000_000.0) for _ in range(1000)}) == 1000


def test_not_v7() -> None:
    with pytest.raises(ValueError):
        uuid7_time(uuid.uuid4())
