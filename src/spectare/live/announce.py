"""Where a camera's worker serves it live: a small file beside the camera's footage.

Only the worker knows a camera's credentials on Kubernetes, so it relays the camera to
the API (``spectare.worker.relay``) and says where, with a token, in
``<footage>/<camera>/.live.json``. Only pods that mount the footage can read it; the
API presents the token. The file is replaced whole (write, then rename), so a reader
sees the old or the new one; a worker that was killed leaves a stale one, which the
next worker replaces and which a reader finds unreachable meanwhile.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

FILENAME = ".live.json"


@dataclass(frozen=True)
class Announcement:
    """A worker's live relay: its URL, the token it wants, and who it is."""

    url: str
    token: str
    worker: str


def announcement_path(root: Path, camera: str) -> Path:
    """The file of ``camera``'s announcement."""
    return root / camera / FILENAME


def announce(path: Path, what: Announcement) -> None:
    """Write ``what`` to ``path`` atomically, readable by the owner and group only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    with os.fdopen(fd, "w") as handle:
        json.dump(asdict(what), handle)
    os.replace(temporary, path)


def withdraw(path: Path, worker: str) -> None:
    """Remove the announcement if it is still ``worker``'s own."""
    found = read_announcement(path)
    if found is not None and found.worker == worker:
        path.unlink(missing_ok=True)


def read_announcement(path: Path) -> Announcement | None:
    """The announcement at ``path``; None when there is none or it is unreadable."""
    try:
        data = json.loads(path.read_text())
        return Announcement(str(data["url"]), str(data["token"]), str(data["worker"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
