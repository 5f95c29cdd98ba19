"""The SQLite index is refused on a network filesystem: which mount holds a path."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest

from spectare.store import StoreError
from spectare.store.mounts import filesystem_type
from spectare.store.sqlite import SQLiteStore

MOUNTS = """\
overlay / overlay rw,relatime 0 0
/dev/vda /var/lib ext4 rw 0 0
nas:/srv/footage /var/lib/spectare/footage nfs4 rw,hard 0 0
tmpfs /var/lib/spectare/footage/scratch tmpfs rw 0 0
/dev/vdb /mnt/with\\040space ext4 rw 0 0
"""


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/var/lib/spectare/footage/.spectare/spectare.db", "nfs4"),
        ("/var/lib/spectare/footage", "nfs4"),
        ("/var/lib/spectare/footage/scratch/x.db", "tmpfs"),
        ("/var/lib/spectare/footageX/x.db", "ext4"),  # a sibling, not inside the NFS mount
        ("/srv/x.db", "overlay"),
        ("/mnt/with space/x.db", "ext4"),
    ],
)
def test_the_innermost_mount_holding_a_path(path: str, kind: str) -> None:
    assert filesystem_type(PurePosixPath(path), MOUNTS) == kind


def test_a_local_index_opens(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "index" / "spectare.db").close()


def test_an_index_on_nfs_is_refused_with_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("spectare.store.sqlite.network_filesystem", lambda path: "nfs4")
    with pytest.raises(StoreError, match=r"on nfs4, where SQLite.s locking is unsafe.*rethinkdb"):
        SQLiteStore("/var/lib/spectare/footage/.spectare/spectare.db")
