"""The footage root must be a writable directory, and a mount when the settings say so."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class StorageError(RuntimeError):
    """Footage cannot be written safely; the message says what to fix."""


def check_footage_root(root: Path, must_be_mount: bool) -> None:
    """Raise StorageError unless footage can be written under ``root``."""
    if not root.is_dir():
        raise StorageError(
            f"footage directory {root} does not exist: create it or set SPECTARE_FOOTAGE_DIR"
        )
    if must_be_mount and not os.path.ismount(root):
        raise StorageError(
            f"footage directory {root} is not a mount point: the share is not mounted, and "
            "recording would fill this node's own disk (unset SPECTARE_FOOTAGE_MUST_BE_MOUNT "
            "only if local storage is intended)"
        )
    try:
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise StorageError(
            f"footage directory {root} is not writable ({exc.strerror}): check its owner and "
            "permissions"
        ) from exc
