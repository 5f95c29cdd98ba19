"""Helpers of the live and export tests: the server's ffmpeg children, MP4 boxes."""

from __future__ import annotations

import struct
from pathlib import Path

from apiharness.server import ApiProcess


def ffmpeg_children(server: ApiProcess) -> list[int]:
    """The ffmpeg processes the API server runs now."""
    assert server.process is not None
    pids: list[int] = []
    for task in Path(f"/proc/{server.process.pid}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:
            continue  # the thread ended
        for pid in children:
            try:
                program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
            except FileNotFoundError:
                continue
            if program.endswith(b"ffmpeg"):
                pids.append(int(pid))
    return pids


def top_boxes(data: bytes) -> list[bytes]:
    """The types of the top-level boxes of MP4 ``data`` (a complete box at a time)."""
    kinds, offset = [], 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, offset)
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, offset + 8)
        if size < 8 or offset + size > len(data):
            break
        kinds.append(kind)
        offset += size
    return kinds
