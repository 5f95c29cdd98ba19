"""The recorders under test, each a process tree: a Spectare worker, a bare ffmpeg with
the worker's own record_command(), or Frigate's recording ffmpeg. CPU marks and memory
samples of each tree."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from record_cost.procs import (
    descendants,
    freeze_and_kill,
    is_recorder,
    log,
    proc_memory,
    proc_times,
)

from spectare.model import CameraSpec
from spectare.worker.ffmpeg import RecordJob, record_command


@dataclass
class CpuMark:
    """Cumulative CPU seconds of one recorder's process tree at one moment."""

    total: float
    python: float
    recorder: float
    recorder_pid: int | None


@dataclass
class Recorder:
    """One recorder under test: kind 'worker', 'bare' (ffmpeg) or 'frigate' (its ffmpeg)."""

    kind: str
    camera: str
    popen: subprocess.Popen[bytes]
    incoming: Path
    log_path: Path
    ext: str
    samples: list[dict[str, float]] = field(default_factory=list)
    hwm_peak: float = 0.0
    marks: list[CpuMark] = field(default_factory=list)
    index_marks: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tree(self) -> list[tuple[int, list[str]]]:
        """Root and live descendants."""
        return [(self.pid, []), *descendants(self.pid)]

    def recorder_pid(self) -> int | None:
        if self.kind != "worker":
            return self.pid
        for pid, cmdline in descendants(self.pid):
            if is_recorder(cmdline):
                return pid
        return None

    def cpu_mark(self) -> CpuMark:
        """Cumulative CPU of everything this recorder ran: the root's own time, its reaped
        children's time (short-lived helpers end up there when the worker waits for them),
        and the own + reaped time of every live descendant."""
        kids = descendants(self.pid, fresh=True)
        total = 0.0
        recorder = 0.0
        recorder_pid = self.pid if self.kind != "worker" else None
        for pid, cmdline in kids:  # read the children before the root (see README)
            times = proc_times(pid)
            if times is None:
                continue
            total += times[0] + times[1]
            if is_recorder(cmdline):
                recorder += times[0] + times[1]
                recorder_pid = pid
        root = proc_times(self.pid)
        if root is None:
            raise RuntimeError(f"{self.kind} {self.camera} has exited")
        total += root[0] + root[1]
        python = root[0] if self.kind == "worker" else 0.0
        if self.kind != "worker":
            recorder = root[0] + root[1]
        return CpuMark(total, python, recorder, recorder_pid)

    def memory_sample(self) -> None:
        """One sample of PSS/USS (by role) and of the sum of VmHWM over live processes."""
        sample = {
            "pss": 0.0,
            "uss": 0.0,
            "hwm": 0.0,
            "python_pss": 0.0,
            "recorder_pss": 0.0,
            "helper_pss": 0.0,
            "python_uss": 0.0,
            "recorder_uss": 0.0,
            "rss": 0.0,
        }
        for pid, cmdline in self.tree():
            memory = proc_memory(pid)
            if memory is None:
                continue
            sample["pss"] += memory["pss"]
            sample["uss"] += memory["uss"]
            sample["rss"] += memory["rss"]
            sample["hwm"] += memory["hwm"]
            if pid == self.pid and self.kind == "worker":
                role = "python"
            elif pid == self.pid or is_recorder(cmdline):
                role = "recorder"
            else:
                role = "helper"
            sample[f"{role}_pss"] += memory["pss"]
            if role != "helper":
                sample[f"{role}_uss"] += memory["uss"]
        self.samples.append(sample)
        self.hwm_peak = max(self.hwm_peak, sample["hwm"])

    def current_index(self) -> int:
        """Number of the segment being written (from the newest name in the incoming dir)."""
        best = -1
        with contextlib.suppress(OSError):
            for path in self.incoming.iterdir():
                match = re.search(r"-(\d{6})\.\w+$", path.name)
                if match:
                    best = max(best, int(match.group(1)))
        return best

    def writing(self) -> bool:
        """Whether a segment file with data exists (recording has really started)."""
        with contextlib.suppress(OSError):
            return any(p.stat().st_size > 0 for p in self.incoming.iterdir() if p.is_file())
        return False


def worker_env(root: Path, spec: dict[str, Any], container: str, worker_id: str) -> dict[str, str]:
    """The environment of a ``spectare worker`` recording into ``root``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTARE_")}
    env.update(
        {
            "SPECTARE_STORE": f"sqlite:///{root / 'spectare.db'}",
            "SPECTARE_FOOTAGE_DIR": str(root / "footage"),
            "SPECTARE_WORKER_ID": worker_id,
            "SPECTARE_CAMERA_SPEC": json.dumps(spec),
            "SPECTARE_CONTAINER": container,
            "SPECTARE_HEARTBEAT_SECONDS": "5",
            "SPECTARE_LOG_LEVEL": "info",
        }
    )
    return env


def _spawn(kind: str, name: str, command: list[str], root: Path, incoming: Path, ext: str,
           env: dict[str, str] | None = None, suffix: str = "") -> Recorder:  # fmt: skip
    log_path = root / "logs" / f"{kind}-{name}{suffix}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    incoming.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        popen = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=out if kind == "worker" else
            subprocess.DEVNULL, stderr=out, start_new_session=True,
        )  # fmt: skip
    return Recorder(kind, name, popen, incoming, log_path, ext)


def start_worker(root: Path, name: str, spec: dict[str, Any], container: str,
                 worker_id: str | None = None, suffix: str = "") -> Recorder:  # fmt: skip
    """A ``spectare worker`` for camera ``name``."""
    env = worker_env(root, spec, container, worker_id or f"bench-{name}")
    command = [sys.executable, "-P", "-m", "spectare", "worker", "--camera", name]
    incoming = root / "footage" / name / ".incoming"
    return _spawn("worker", name, command, root, incoming, container, env, suffix)


def start_bare(root: Path, name: str, spec: dict[str, Any], container: str) -> Recorder:
    """A bare ffmpeg with the worker's own recording command (motion off)."""
    incoming = root / "bare" / name
    job = RecordJob(str(spec["url"]), CameraSpec.model_validate(spec), container, incoming, "bare")  # type: ignore[arg-type]
    return _spawn("bare", name, record_command(job), root, incoming, container)


def frigate_command(url: str, cache: Path, name: str) -> list[str]:
    """Frigate's recording ffmpeg as its generic RTSP input and record presets build it:
    wall-clock timestamps, TCP, stream copy without audio into 10 s MP4 segments named by
    time, in a cache folder its recording maintainer empties."""
    return [
        "ffmpeg", "-hide_banner", "-loglevel", "warning", "-threads", "2",
        "-avoid_negative_ts", "make_zero", "-fflags", "+genpts+discardcorrupt",
        "-rtsp_transport", "tcp", "-timeout", "5000000", "-use_wallclock_as_timestamps", "1",
        "-i", url, "-f", "segment", "-segment_time", "10", "-segment_format", "mp4",
        "-reset_timestamps", "1", "-strftime", "1", "-c", "copy", "-an",
        str(cache / f"{name}@%Y%m%d%H%M%S%z.mp4"),
    ]  # fmt: skip


def start_frigate(root: Path, name: str, url: str) -> Recorder:
    """Frigate's recording ffmpeg for camera ``name`` (its maintainer runs apart)."""
    cache = root / "frigate-cache"
    return _spawn("frigate", name, frigate_command(url, cache, name), root, cache, "mp4")


def stop(recorders: list[Recorder], timeout: float = 40.0) -> None:
    """Workers: SIGTERM (they close and index their segment). ffmpeg: SIGINT."""
    for rec in recorders:
        if rec.popen.poll() is None:
            rec.popen.send_signal(signal.SIGTERM if rec.kind == "worker" else signal.SIGINT)
    deadline = time.monotonic() + timeout
    for rec in recorders:
        try:
            rec.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"{rec.kind} {rec.camera} did not stop; killing its processes")
            freeze_and_kill([p for p, _ in rec.tree()])
            rec.popen.wait()
