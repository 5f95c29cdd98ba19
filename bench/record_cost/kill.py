"""Crash recovery: per container a worker and a bare ffmpeg are killed (SIGSTOP, then
SIGKILL, as when a pod's cgroup is killed) ~15 s into their second segment; a new worker
recovers the leftover; playable seconds (decoded frames / fps) against those recorded."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from record_cost import recorders
from record_cost.procs import descendants, freeze_and_kill, log
from record_cost.recorders import Recorder
from record_cost.source import ClipServer

CONTAINERS = ("mp4", "ts", "mkv")


def tree_files(camera_root: Path) -> list[Path]:
    """Finished segments in a camera's dated tree."""
    if not camera_root.is_dir():
        return []
    return [
        p
        for p in camera_root.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(camera_root).parts)
        and p.suffix in (".mp4", ".ts", ".mkv")
    ]


def quarantined(camera_root: Path) -> list[Path]:
    folder = camera_root / ".quarantine"
    return list(folder.iterdir()) if folder.is_dir() else []


def wait_for_log(rec: Recorder, needle: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in rec.log_path.read_text(errors="replace"):
            return
        if rec.popen.poll() is not None:
            raise RuntimeError(f"{rec.camera}: worker exited before '{needle}'; see {rec.log_path}")
        time.sleep(0.1)
    raise RuntimeError(f"{rec.camera}: no '{needle}' within {timeout:g} s; see {rec.log_path}")


def playable_seconds(path: Path, fps: int) -> tuple[float, float]:
    """(decoded frames / fps, container duration) of a file: what a player can show."""
    done = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames:format=duration",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        data = json.loads(done.stdout or "{}")
        frames = int(data["streams"][0]["nb_read_frames"])
    except (KeyError, IndexError, ValueError, TypeError):
        return 0.0, 0.0
    try:
        duration = float(data.get("format", {}).get("duration") or 0.0)
    except ValueError:
        duration = 0.0
    return frames / fps, duration


# ----------------------------------------------------------------------------- reporting


def second_segment(rec: Recorder) -> Path | None:
    """The recorder's second segment file, once ffmpeg has opened it."""
    with contextlib.suppress(OSError):
        for path in rec.incoming.iterdir():
            if path.name.endswith(f"-000001.{rec.ext}"):
                return path
    return None


def kill_trial(
    server: ClipServer, root: Path, segment: int, kill_at: float, fps: int
) -> dict[str, dict[str, float]]:
    """Every container at once, one camera each; the seconds kept per container."""
    root.mkdir(parents=True)
    entries: dict[str, dict[str, Any]] = {}
    everyone: list[Recorder] = []
    try:
        for i, container in enumerate(CONTAINERS):
            name = f"kill-{container}"
            spec = {"url": server.url(i), "segmentSeconds": segment, "motion": {"enabled": False}}
            worker = recorders.start_worker(root, name, spec, container)
            bare = recorders.start_bare(root, name, spec, container)
            everyone += [worker, bare]
            entries[container] = {"name": name, "spec": spec, "worker": worker, "bare": bare}
        pending = {(c, k): entries[c][k] for c in CONTAINERS for k in ("worker", "bare")}
        opened: dict[tuple[str, str], float] = {}
        deadline = time.monotonic() + segment + kill_at + 120
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"kill trial stuck: {sorted(pending)}")
            for key, rec in list(pending.items()):
                now = time.monotonic()
                if rec.popen.poll() is not None:
                    raise RuntimeError(f"{key} exited early; see {rec.log_path}")
                if key not in opened:
                    if second_segment(rec) is not None:
                        opened[key] = now
                elif now - opened[key] >= kill_at:
                    entries[key[0]][key[1] + "_file"] = second_segment(rec)
                    freeze_and_kill([rec.pid, *(p for p, _ in descendants(rec.pid, fresh=True))])
                    entries[key[0]][key[1] + "_recorded"] = time.monotonic() - opened[key]
                    rec.popen.wait()
                    del pending[key]
            time.sleep(0.02)
        for container in CONTAINERS:
            entry = entries[container]
            camera_root = root / "footage" / entry["name"]
            entry["before"] = set(tree_files(camera_root))
            entry["again"] = recorders.start_worker(
                root, entry["name"], entry["spec"], container, suffix="-restarted"
            )
            everyone.append(entry["again"])
        for container in CONTAINERS:
            entry = entries[container]
            wait_for_log(entry["again"], "worker.recovered", 90)
            entry["recovered"] = sorted(
                set(tree_files(root / "footage" / entry["name"])) - entry["before"]
            )
        recorders.stop([entries[c]["again"] for c in CONTAINERS])
    except BaseException:
        for rec in everyone:
            if rec.popen.poll() is None:
                freeze_and_kill([rec.pid, *(p for p, _ in descendants(rec.pid, fresh=True))])
                rec.popen.wait()
        raise
    results: dict[str, dict[str, float]] = {}
    for container in CONTAINERS:
        entry = entries[container]
        kept = sum(playable_seconds(p, fps)[0] for p in entry["recovered"])
        bare_file = entry.get("bare_file")
        bare_kept = playable_seconds(bare_file, fps)[0] if bare_file else 0.0
        results[container] = {
            "recorded": entry["worker_recorded"],
            "kept": kept,
            "bare_recorded": entry["bare_recorded"],
            "bare_kept": bare_kept,
        }
        log(f"kill {container}: worker kept {kept:.2f} of {entry['worker_recorded']:.2f} s; "
            f"bare ffmpeg {bare_kept:.2f} of {entry['bare_recorded']:.2f} s")  # fmt: skip
    return results
