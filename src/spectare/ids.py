"""Time-ordered segment ids (UUID version 7), so names sort by time."""

from __future__ import annotations

import os
import uuid


def uuid7_at(epoch_seconds: float) -> uuid.UUID:
    """A UUIDv7 whose timestamp is ``epoch_seconds`` (RFC 9562), random below."""
    millis = int(epoch_seconds * 1000) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64
    value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
    return uuid.UUID(int=value)


def uuid7_time(value: uuid.UUID | str) -> float:
    """The timestamp (epoch seconds) carried by a UUIDv7."""
    parsed = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    if parsed.version != 7:
        raise ValueError(f"not a UUIDv7: {parsed}")
    return (parsed.int >> 80) / 1000.0
