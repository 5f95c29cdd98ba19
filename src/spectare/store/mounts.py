"""Which filesystem holds a path: SQLite's locking is unsafe on network filesystems."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

#: Filesystem types where SQLite's file locks and shared memory (WAL) are not reliable.
NETWORK_FILESYSTEMS = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs"})


def _unescape(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash as octal escapes.
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def filesystem_type(path: PurePosixPath, mounts: str) -> str | None:
    """The type of the mount (in ``/proc/mounts`` text) that holds the absolute ``path``."""
    best: tuple[int, str] | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = PurePosixPath(_unescape(fields[1]))
        holds = path == point or point in path.parents
        if holds and (best is None or len(point.parts) > best[0]):
            best = (len(point.parts), fields[2])
    return best[1] if best else None


def network_filesystem(path: Path) -> str | None:
    """The network filesystem type holding ``path`` (or its nearest existing parent), if any."""
    try:
        mounts = Path("/proc/self/mounts").read_text()
    except OSError:
        return None  # not Linux: nothing to tell
    kind = filesystem_type(PurePosixPath(path.resolve()), mounts)
    return kind if kind in NETWORK_FILESYSTEMS else None
