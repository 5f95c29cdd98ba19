"""The worker process stays lean: one runs per camera, so every MB counts per camera.

Covers: a fresh interpreter that imports what ``spectare worker`` imports (the CLI,
its settings, the worker, the SQLite store), loads the settings with a camera spec and
opens a SQLite store has imported none of pydantic, pydantic_settings, dotenv, asyncio,
ssl or _hashlib; and the RethinkDB backend is imported only for a rethinkdb:// store.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# _hashlib: OpenSSL's libcrypto (~4 MB), loaded by hashlib, hmac and secrets.
HEAVY = ("pydantic", "pydantic_settings", "dotenv", "asyncio", "ssl", "_hashlib")

# The imports of `python -P -m spectare worker` up to run_worker, and what run_worker
# does before recording: settings with a spec, a SQLite store opened.
WORKER_PATH = """
import json, sys
import spectare.cli
from spectare.worker import run_worker, Worker
from spectare.settings import load_settings
from spectare.store import open_store
settings = load_settings()
assert settings.camera_spec is not None
open_store(settings.store).close()
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {heavy})))
"""


def imported(tmp_path: Path, code: str) -> list[str]:
    env = {
        "SPECTARE_STORE": f"sqlite:///{tmp_path}/s.db",
        "SPECTARE_CAMERA_SPEC": json.dumps({"url": "rtsp://127.0.0.1:8554/cam"}),
        "SPECTARE_CAMERA_PASSWORD": "pw",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-P", "-c", code], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: list[str] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_the_worker_path_imports_no_heavy_module(tmp_path: Path) -> None:
    assert imported(tmp_path, WORKER_PATH.replace("{heavy}", repr(set(HEAVY)))) == []


def test_the_guard_sees_a_heavy_import(tmp_path: Path) -> None:
    """The check itself works: a pydantic import on the path is caught."""
    code = WORKER_PATH.replace("{heavy}", repr(set(HEAVY))).replace(
        "import spectare.cli", "import spectare.cli, spectare.model"
    )
    assert "pydantic" in imported(tmp_path, code)


def test_the_rethinkdb_backend_is_imported_only_for_its_urls(tmp_path: Path) -> None:
    code = WORKER_PATH.replace("{heavy}", repr({"rethinkdb", "spectare"}))
    assert not [m for m in imported(tmp_path, code) if "rethink" in m]


def test_the_real_entry_imports_no_heavy_module(tmp_path: Path) -> None:
    """``python -P -m spectare worker`` as the pool and the operator start it, up to the
    check of the footage root (missing here, so it exits with BAD_CONFIG)."""
    env = {
        "SPECTARE_STORE": f"sqlite:///{tmp_path}/s.db",
        "SPECTARE_FOOTAGE_DIR": str(tmp_path / "missing"),
        "SPECTARE_CAMERA_SPEC": json.dumps({"url": "rtsp://127.0.0.1:8554/cam"}),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-P", "-m", "spectare", "worker", "--camera", "c"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 78, done.stderr[-2000:]
    names = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "spectare.worker.run" in names
    assert not {n for n in names if n.split(".")[0] in HEAVY}
