"""Mistakes a user can fix: the ``spectare`` command prints them as one line, no traceback."""

from __future__ import annotations

import errno
from pathlib import Path


class UserError(Exception):
    """A mistake the user can fix; the message says what happened and what to do next."""


def port_taken(exc: OSError) -> bool:
    """Whether binding failed because another program holds the port."""
    return exc.errno == errno.EADDRINUSE


def ensure_writable(folder: Path, hint: str) -> None:
    """Create ``folder`` if needed and prove it takes a file; else a UserError with ``hint``."""
    probe = folder / ".spectare-write-test"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to {folder}: {exc.strerror or exc}; {hint}") from exc
