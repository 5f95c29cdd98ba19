"""What recording costs: Spectare workers against bare ffmpeg, side by side, and crash recovery.

    .venv/bin/python bench/record_cost.py [--cameras 8] [--seconds 60] [--repeat 3]

One demo RTSP server on 127.0.0.1 serves N cameras (1080p H.264, 15 fps, 4 Mbit/s of
real bytes, GOP 2 s, one shared encoder).  Each run records every camera twice at the
same time: (a) by a ``spectare worker`` process and (b) by a bare ffmpeg started with
``record_command()`` of the worker itself, i.e. the very same arguments.  Over a window of
T seconds it measures, per camera:

- CPU seconds per camera-minute: user + system time of every process of the recorder
  (worker Python, its recording ffmpeg, its short-lived ffprobe/ffmpeg helpers), read
  from /proc at the window's start and end (see bench/README.md for how reaped helpers
  are counted);
- PSS (shared pages split among the processes that map them) summed over the recorder's
  processes, sampled every 0.5 s, and peak RSS (sum of VmHWM over its live processes);
- the ratio a/b.

Modes: ``record`` (motion off, snapshots off), ``analyse`` (motion scoring + thumbnails,
snapshots every 10 s); the extra cost of analysis is reported on its own line.  Then
``kill``: per container (mp4, ts, mkv) a worker and a bare ffmpeg are SIGKILLed ~15 s into
their second segment, a new worker recovers the leftover, and the playable seconds of
the killed segment (decoded frames / fps) are compared with the seconds recorded before
the kill.  Results go to bench/results/record_cost.md and stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from spectare.demo import DemoCamera
from spectare.demo.camera import gst_python
from spectare.model import CameraSpec
from spectare.worker.ffmpeg import RecordJob, record_command

RESULTS = Path(__file__).resolve().parent / "results" / "record_cost.md"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CONTAINERS = ("mp4", "ts", "mkv")
EXTS = {"mp4": "mp4", "ts": "ts", "mkv": "mkv"}

# Targets of the issue.
TARGET_RATIO = 1.10
TARGET_PSS_MB = 60.0
TARGET_RECOVERED = 0.90


def log(message: str) -> None:
    """Progress on stderr, so stdout carries only the results."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- /proc reading


def proc_times(pid: int) -> tuple[float, float] | None:
    """(own user+system seconds, reaped children's user+system seconds) of ``pid``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields_ = data[data.rindex(b")") + 2 :].split()
    # fields_[0] is field 3 (state); utime is field 14 -> index 11.
    utime, stime, cutime, cstime = (int(x) for x in fields_[11:15])
    return (utime + stime) / CLK_TCK, (cutime + cstime) / CLK_TCK


def proc_memory(pid: int) -> dict[str, float] | None:
    """PSS, USS, RSS and VmHWM of ``pid`` in MB."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            rollup = handle.read()
        with open(f"/proc/{pid}/status") as handle:
            status = handle.read()
    except OSError:
        return None
    out: dict[str, float] = {"pss": 0.0, "uss": 0.0, "rss": 0.0, "hwm": 0.0}
    for line in rollup.splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if not parts or not parts[0].isdigit():
            continue
        kb = int(parts[0])
        if name == "Pss":
            out["pss"] = kb / 1024
        elif name in ("Private_Clean", "Private_Dirty"):
            out["uss"] += kb / 1024
        elif name == "Rss":
            out["rss"] = kb / 1024
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            out["hwm"] = int(line.split()[1]) / 1024
    if out["pss"] == 0.0 and out["rss"] == 0.0:
        return None  # a zombie: nothing mapped any more
    return out


_TABLE: tuple[float, dict[int, list[int]]] = (0.0, {})
_CMDLINES: dict[int, list[str]] = {}


def _children_table(max_age: float = 0.05) -> dict[int, list[int]]:
    """{parent pid: child pids} of every process, from one scan of /proc (reused for
    ``max_age`` seconds, so one sample of all recorders costs one scan)."""
    global _TABLE
    if time.monotonic() - _TABLE[0] <= max_age:
        return _TABLE[1]
    table: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                data = handle.read()
        except OSError:
            continue
        ppid = int(data[data.rindex(b")") + 2 :].split()[1])
        table.setdefault(ppid, []).append(int(entry.name))
    _TABLE = (time.monotonic(), table)
    return table


def _cmdline(pid: int) -> list[str]:
    if pid not in _CMDLINES:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                raw = handle.read()
        except OSError:
            return []
        if not raw:  # a zombie, or not exec'ed yet: do not cache
            return []
        _CMDLINES[pid] = raw.decode(errors="replace").rstrip("\0").split("\0")
    return _CMDLINES[pid]


def descendants(pid: int, fresh: bool = False) -> list[tuple[int, list[str]]]:
    """Live descendants of ``pid`` with their command lines."""
    table = _children_table(0.0 if fresh else 0.05)
    out: list[tuple[int, list[str]]] = []
    todo = list(table.get(pid, []))
    while todo:
        child = todo.pop()
        out.append((child, _cmdline(child)))
        todo.extend(table.get(child, []))
    return out


def is_recorder(cmdline: list[str]) -> bool:
    """The long-running recording ffmpeg (the worker's or a bare one)."""
    return bool(cmdline) and "-segment_list" in cmdline


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat") as handle:
        parts = [int(x) for x in handle.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def wait_quiet(limit_pct: float, patience: float) -> float:
    """Wait until all CPUs together are at most ``limit_pct`` busy over 5 s, or ``patience``
    seconds have passed; the last busy percentage seen."""
    deadline = time.monotonic() + patience
    while True:
        before = machine_busy()
        time.sleep(5)
        after = machine_busy()
        busy = 100 * (after[0] - before[0]) / max(1, after[1] - before[1])
        left = deadline - time.monotonic()
        if busy <= limit_pct or left <= 0:
            return busy
        log(f"machine {busy:.0f} % busy (others' work); waiting up to {left:.0f} s more")


# ----------------------------------------------------------------------------- recorders


@dataclass
class CpuMark:
    """Cumulative CPU seconds of one recorder's process tree at one moment."""

    total: float
    python: float
    recorder: float
    recorder_pid: int | None


@dataclass
class Recorder:
    """One recorder under test: a worker (kind 'worker') or a bare ffmpeg (kind 'bare')."""

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
        if self.kind == "bare":
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
        recorder_pid = self.pid if self.kind == "bare" else None
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
        if self.kind == "bare":
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


def freeze_and_kill(pids: Iterable[int]) -> None:
    """SIGSTOP every process first, then SIGKILL them all: nobody gets to react to the
    others' death (as when a pod's cgroup is killed)."""
    pids = list(pids)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
    for pid in reversed(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# ----------------------------------------------------------------------------- the bench


@dataclass
class Options:
    cameras: int
    seconds: float
    repeat: int
    warmup: float | None
    segment_seconds: int
    container: str
    width: int
    height: int
    fps: int
    bitrate_kbps: int
    gop_seconds: float
    snapshot_seconds: int
    kill_at: float
    kill_segment_seconds: int
    heartbeat_seconds: float
    sample_interval: float
    quiet_below: float
    quiet_wait: float
    workdir: Path | None
    keep: bool
    skip_cost: bool
    skip_kill: bool
    output: Path


class Bench:
    def __init__(self, options: Options, camera: DemoCamera, workdir: Path) -> None:
        self.o = options
        self.camera = camera
        self.workdir = workdir

    # -- starting recorders -------------------------------------------------------------------

    def spec(self, url: str, segment_seconds: int, motion: bool, snapshot: int) -> dict[str, Any]:
        return {
            "url": url,
            "segmentSeconds": segment_seconds,
            "snapshotSeconds": snapshot,
            "motion": {"enabled": motion},
        }

    def worker_env(
        self, root: Path, name: str, spec: dict[str, Any], container: str, worker_id: str
    ) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTARE_")}
        env.update(
            {
                "SPECTARE_STORE": f"sqlite:///{root / 'spectare.db'}",
                "SPECTARE_FOOTAGE_DIR": str(root / "footage"),
                "SPECTARE_WORKER_ID": worker_id,
                "SPECTARE_CAMERA_SPEC": json.dumps(spec),
                "SPECTARE_CONTAINER": container,
                "SPECTARE_HEARTBEAT_SECONDS": f"{self.o.heartbeat_seconds:g}",
                "SPECTARE_LOG_LEVEL": "info",
            }
        )
        return env

    def start_worker(
        self,
        root: Path,
        name: str,
        spec: dict[str, Any],
        container: str,
        worker_id: str | None = None,
        log_suffix: str = "",
    ) -> Recorder:
        worker_id = worker_id or f"bench-{name}"
        env = self.worker_env(root, name, spec, container, worker_id)
        (root / "footage").mkdir(parents=True, exist_ok=True)
        log_path = root / "logs" / f"worker-{name}{log_suffix}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as out:
            popen = subprocess.Popen(
                [sys.executable, "-P", "-m", "spectare", "worker", "--camera", name],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        incoming = root / "footage" / name / ".incoming"
        return Recorder("worker", name, popen, incoming, log_path, EXTS[container])

    def bare_command(
        self, root: Path, name: str, spec: dict[str, Any], container: str
    ) -> list[str]:
        """The worker's own record_command, for a worker with snapshots off."""
        camera_spec = CameraSpec.model_validate(spec)
        incoming = root / "bare" / name
        incoming.mkdir(parents=True, exist_ok=True)
        job = RecordJob(
            url=str(spec["url"]),
            spec=camera_spec,
            container=container,
            incoming=incoming,
            run_id="bare",
            snapshot=None,
        )
        command: list[str] = list(record_command(job))
        return command

    def start_bare(self, root: Path, name: str, spec: dict[str, Any], container: str) -> Recorder:
        command = self.bare_command(root, name, spec, container)
        incoming = root / "bare" / name
        log_path = root / "logs" / f"bare-{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as err, open(root / "logs" / f"bare-{name}.csv", "ab") as out:
            popen = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
            )
        return Recorder("bare", name, popen, incoming, log_path, EXTS[container])

    @staticmethod
    def stop(recorders: list[Recorder], timeout: float = 40.0) -> None:
        """Workers: SIGTERM (they close and index their segment). Bare ffmpeg: SIGINT."""
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

    # -- the cost modes -----------------------------------------------------------------------

    def cost_run(self, mode: str, repeat: int) -> dict[str, Any]:
        o = self.o
        motion = mode == "analyse"
        snapshot = o.snapshot_seconds if mode == "analyse" else 0
        root = self.workdir / f"{mode}-{repeat}"
        root.mkdir(parents=True)
        busy_before = wait_quiet(o.quiet_below, o.quiet_wait)
        workers: list[Recorder] = []
        bares: list[Recorder] = []
        try:
            for i in range(o.cameras):
                name = f"cam{i}"
                spec = self.spec(self.camera.url(f"/cam{i}"), o.segment_seconds, motion, snapshot)
                bares.append(self.start_bare(root, name, spec, o.container))
                workers.append(self.start_worker(root, name, spec, o.container))
            everyone = workers + bares
            started = time.monotonic()
            writing_since: dict[int, float] = {}
            while len(writing_since) < len(everyone):
                for rec in everyone:
                    if id(rec) not in writing_since and rec.writing():
                        writing_since[id(rec)] = time.monotonic()
                    if rec.popen.poll() is not None:
                        raise RuntimeError(
                            f"{rec.kind} {rec.camera} exited with {rec.popen.returncode}; "
                            f"see {rec.log_path}"
                        )
                if time.monotonic() - started > 120:
                    raise RuntimeError("recorders did not start writing within 120 s")
                time.sleep(0.2)
            ready = time.monotonic()
            startup_cpu = [rec.cpu_mark().python for rec in workers]
            warmup = o.warmup
            if warmup is None:
                # Put each camera's segment boundary in the middle of the window, so the
                # finishing of that segment (probe, thumbnail, motion, index) is inside it.
                warmup = max(5.0, o.segment_seconds - o.seconds / 2)
            log(
                f"{mode} #{repeat}: all {len(everyone)} recorders writing after "
                f"{ready - started:.1f} s; warm-up {warmup:g} s, then a {o.seconds:g} s window"
            )
            time.sleep(warmup)

            bench_self = psutil.Process()
            server = psutil.Process(self.camera.pid)
            load_before = os.getloadavg()
            busy0 = machine_busy()
            bench0 = sum(bench_self.cpu_times()[:2])
            server0 = sum(server.cpu_times()[:2])
            t0 = time.monotonic()
            for rec in everyone:
                rec.marks.append(rec.cpu_mark())
                rec.index_marks.append(rec.current_index())
            t_end = t0 + o.seconds
            while True:
                now = time.monotonic()
                if now >= t_end:
                    break
                for rec in everyone:
                    rec.memory_sample()
                time.sleep(min(o.sample_interval, max(0.0, t_end - time.monotonic())))
            for rec in everyone:
                rec.marks.append(rec.cpu_mark())
                rec.index_marks.append(rec.current_index())
            t1 = time.monotonic()
            server1 = sum(server.cpu_times()[:2])
            bench1 = sum(bench_self.cpu_times()[:2])
            busy1 = machine_busy()
            load_after = os.getloadavg()
            window = t1 - t0
            detail = self.worker_memory_detail(workers[0].pid) if mode == "analyse" else None
            restarts = [
                rec.camera
                for rec in everyone
                if rec.marks[0].recorder_pid != rec.marks[1].recorder_pid
            ]
            stop_sent = time.monotonic()
            self.stop(everyone)
        except BaseException:
            for rec in workers + bares:
                if rec.popen.poll() is None:
                    freeze_and_kill([p for p, _ in rec.tree()])
                    rec.popen.wait()
            raise

        def per_minute(rec: Recorder, attr: str) -> float:
            a, b = rec.marks
            return float(getattr(b, attr) - getattr(a, attr)) / (window / 60.0)

        def memory(rec: Recorder, key: str) -> float:
            return statistics.fmean(s[key] for s in rec.samples) if rec.samples else float("nan")

        result: dict[str, Any] = {
            "mode": mode,
            "repeat": repeat,
            "window": window,
            "warmup": warmup,
            "startup_cpu": statistics.fmean(startup_cpu),
            "server_cpu_pct": 100 * (server1 - server0) / window,
            "bench_cpu_pct": 100 * (bench1 - bench0) / window,
            "busy_before_pct": busy_before,
            "machine_busy_pct": 100 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]),
            "load": (load_before, load_after),
            "restarts": restarts,
            "detail": detail,
        }
        for kind, group in (("a", workers), ("b", bares)):
            total = [per_minute(r, "total") for r in group]
            result[f"{kind}_cpu"] = statistics.fmean(total)
            result[f"{kind}_cpu_max"] = max(total)
            result[f"{kind}_recorder_cpu"] = statistics.fmean(
                per_minute(r, "recorder") for r in group
            )
            result[f"{kind}_python_cpu"] = statistics.fmean(per_minute(r, "python") for r in group)
            result[f"{kind}_helper_cpu"] = (
                result[f"{kind}_cpu"]
                - result[f"{kind}_recorder_cpu"]
                - result[f"{kind}_python_cpu"]
            )
            result[f"{kind}_pss"] = statistics.fmean(memory(r, "pss") for r in group)
            result[f"{kind}_pss_max"] = max(max(s["pss"] for s in r.samples) for r in group)
            result[f"{kind}_uss"] = statistics.fmean(memory(r, "uss") for r in group)
            result[f"{kind}_rss"] = statistics.fmean(memory(r, "rss") for r in group)
            result[f"{kind}_hwm"] = statistics.fmean(r.hwm_peak for r in group)
            result[f"{kind}_hwm_max"] = max(r.hwm_peak for r in group)
            result[f"{kind}_python_pss"] = statistics.fmean(memory(r, "python_pss") for r in group)
            result[f"{kind}_python_uss"] = statistics.fmean(memory(r, "python_uss") for r in group)
            result[f"{kind}_recorder_pss"] = statistics.fmean(
                memory(r, "recorder_pss") for r in group
            )
            result[f"{kind}_segments"] = statistics.fmean(
                r.index_marks[1] - r.index_marks[0] for r in group
            )
        result["indexed"] = sum(
            rec.log_path.read_text(errors="replace").count("segment.indexed") for rec in workers
        )
        warned: dict[str, int] = {}
        for rec in workers:
            for line in rec.log_path.read_text(errors="replace").splitlines():
                if re.search(r"^ts=\S+ level=(warning|error) ", line):
                    event = re.search(r" event=(\S+)", line)
                    key = event.group(1) if event else "?"
                    said = re.search(r'\[(?:warning|error|fatal|panic)\] ([^"]{0,60})', line)
                    if said:  # ffmpeg's own words tell what went wrong
                        key += f" ({said.group(1).strip()})"
                    warned[key] = warned.get(key, 0) + 1
        result["worker_warnings"] = warned
        result["realtime"] = self.realtime(bares, writing_since, stop_sent)
        if not o.keep:
            shutil.rmtree(root, ignore_errors=True)
        return result

    def realtime(self, bares: list[Recorder], since: dict[int, float], stop_sent: float) -> float:
        """Frames the bare recorders got per second of wall time, over the stream's fps
        (1.00 = the camera server kept real time)."""
        ratios = []
        for rec in bares:
            frames = 0
            for path in sorted(rec.incoming.iterdir()):
                frames += count_packets(path)
            ratios.append(frames / ((stop_sent - since[id(rec)]) * self.o.fps))
        return min(ratios) if ratios else float("nan")

    @staticmethod
    def worker_memory_detail(pid: int) -> dict[str, Any]:
        """Where a worker's own memory goes: PSS by mapping, and the heavy libraries it maps."""
        by_name: dict[str, float] = {}
        name = "?"
        with contextlib.suppress(OSError), open(f"/proc/{pid}/smaps") as handle:
            for line in handle:
                head = line.split()
                if not head:
                    continue
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    name = head[5] if len(head) > 5 else "[anon]"
                elif head[0] == "Pss:":
                    by_name[name] = by_name.get(name, 0.0) + int(head[1]) / 1024
        libraries = sorted({Path(n).name for n in by_name if ".so" in n})
        heavy = [n for n in libraries if re.search(r"cv2|opencv|numpy|openblas|av\.|libav", n)]
        top = sorted(by_name.items(), key=lambda kv: -kv[1])[:8]
        return {"top": top, "libraries": len(libraries), "heavy": heavy}

    # -- the kill trials ----------------------------------------------------------------------

    def kill_trial(self, repeat: int) -> dict[str, dict[str, Any]]:
        """Every container at once (one camera each): kill a worker and a bare ffmpeg
        ``kill_at`` seconds into their second segment; recover; measure."""
        o = self.o
        root = self.workdir / f"kill-{repeat}"
        root.mkdir(parents=True)
        wait_quiet(o.quiet_below, o.quiet_wait)
        entries: dict[str, dict[str, Any]] = {}
        recorders: list[Recorder] = []
        try:
            for i, container in enumerate(CONTAINERS):
                name = f"kill-{container}"
                url = self.camera.url(f"/cam{i % len(self.camera.paths)}")
                spec = self.spec(url, o.kill_segment_seconds, False, 0)
                worker = self.start_worker(root, name, spec, container)
                bare = self.start_bare(root, name, spec, container)
                recorders += [worker, bare]
                entries[container] = {"name": name, "spec": spec, "worker": worker, "bare": bare}
            pending = {(c, k): entries[c][k] for c in CONTAINERS for k in ("worker", "bare")}
            second_started: dict[tuple[str, str], float] = {}
            deadline = time.monotonic() + o.kill_segment_seconds + o.kill_at + 120
            while pending:
                now = time.monotonic()
                if now > deadline:
                    raise RuntimeError(f"kill trial stuck: {sorted(pending)}")
                for key, rec in list(pending.items()):
                    if rec.popen.poll() is not None:
                        raise RuntimeError(f"{key} exited early; see {rec.log_path}")
                    if key not in second_started:
                        if self.second_segment(rec) is not None:
                            second_started[key] = now
                    elif now - second_started[key] >= o.kill_at:
                        killed_file = self.second_segment(rec)
                        freeze_and_kill(
                            [rec.pid, *(p for p, _ in descendants(rec.pid, fresh=True))]
                        )
                        killed_at = time.monotonic()
                        rec.popen.wait()
                        entries[key[0]][key[1] + "_file"] = killed_file
                        entries[key[0]][key[1] + "_recorded"] = killed_at - second_started[key]
                        del pending[key]
                time.sleep(0.02)
            # Let a new worker recover each leftover.
            for container in CONTAINERS:
                entry = entries[container]
                camera_root = root / "footage" / entry["name"]
                entry["before"] = set(tree_files(camera_root))
                entry["quarantine_before"] = set(quarantined(camera_root))
                entry["again"] = self.start_worker(
                    root,
                    entry["name"],
                    entry["spec"],
                    container,
                    worker_id=f"bench-{entry['name']}",
                    log_suffix="-restarted",
                )
                recorders.append(entry["again"])
            for container in CONTAINERS:
                entry = entries[container]
                again: Recorder = entry["again"]
                wait_for_log(again, "worker.recovered", 90)
                camera_root = root / "footage" / entry["name"]
                entry["recovered_files"] = sorted(set(tree_files(camera_root)) - entry["before"])
                entry["quarantined"] = sorted(
                    set(quarantined(camera_root)) - entry["quarantine_before"]
                )
            self.stop([entries[c]["again"] for c in CONTAINERS])
        except BaseException:
            for rec in recorders:
                if rec.popen.poll() is None:
                    freeze_and_kill([rec.pid, *(p for p, _ in descendants(rec.pid, fresh=True))])
                    rec.popen.wait()
            raise

        results: dict[str, dict[str, Any]] = {}
        for container in CONTAINERS:
            entry = entries[container]
            recovered_files = [p for p in entry["recovered_files"] if p.suffix != ".jpg"]
            worker_seconds = sum(playable_seconds(p, o.fps)[0] for p in recovered_files)
            indexed = [indexed_seconds(entry["again"].log_path, p.stem) for p in recovered_files]
            bare_file: Path | None = entry.get("bare_file")
            bare_seconds = playable_seconds(bare_file, o.fps)[0] if bare_file else 0.0
            results[container] = {
                "worker_recorded": entry["worker_recorded"],
                "worker_recovered": worker_seconds,
                "worker_files": len(recovered_files),
                "worker_quarantined": len(entry["quarantined"]),
                "worker_indexed": sum(x for x in indexed if x is not None),
                "bare_recorded": entry["bare_recorded"],
                "bare_recovered": bare_seconds,
            }
            log(
                f"kill #{repeat} {container}: worker kept {worker_seconds:.2f} of "
                f"{entry['worker_recorded']:.2f} s ({len(recovered_files)} file(s), "
                f"{len(entry['quarantined'])} quarantined); bare ffmpeg kept {bare_seconds:.2f} "
                f"of {entry['bare_recorded']:.2f} s"
            )
        if not o.keep:
            shutil.rmtree(root, ignore_errors=True)
        return results

    @staticmethod
    def second_segment(rec: Recorder) -> Path | None:
        """The recorder's second segment file, once ffmpeg has opened it."""
        with contextlib.suppress(OSError):
            for path in rec.incoming.iterdir():
                if path.name.endswith(f"-000001.{rec.ext}"):
                    return path
        return None


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


def indexed_seconds(log_path: Path, segment_id: str) -> float | None:
    """The duration the worker indexed for ``segment_id`` (from its log line)."""
    for line in log_path.read_text(errors="replace").splitlines():
        if "segment.indexed" in line and segment_id in line:
            match = re.search(r"seconds=([\d.]+)", line)
            if match:
                return float(match.group(1))
    return None


def count_packets(path: Path) -> int:
    """Video packets (= frames) in a file, without decoding."""
    done = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        return int(done.stdout.strip().split(",")[0])
    except ValueError:
        return 0


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


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float], fmt: str) -> str:
    """``median`` and, with several values, ``(min-max)``."""
    if not values:
        return "-"
    text = format(median(values), fmt)
    if len(values) > 1:
        text += f" ({format(min(values), fmt)}-{format(max(values), fmt)})"
    return text


def machine_facts() -> dict[str, str]:
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    gst = subprocess.run(
        [
            gst_python(),
            "-I",  # isolated from the environment and the working directory
            "-c",
            "import gi; gi.require_version('Gst', '1.0'); "
            "from gi.repository import Gst; Gst.init(None); print(Gst.version_string())",
        ],
        capture_output=True,
        text=True,
        cwd="/",
    ).stdout.strip()
    return {
        "host": socket.gethostname(),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "ffmpeg": ffmpeg.split(" Copyright")[0] if ffmpeg else "?",
        "gstreamer": gst or "?",
    }


REPO = Path(__file__).resolve().parent.parent


def code_version() -> tuple[str, str]:
    """(git commit with a note on local changes, fingerprint of the code the workers run)."""
    digest = hashlib.sha256()
    for folder in ("src/worker", "src/spectare"):
        for path in sorted((REPO / folder).rglob("*.py")):
            digest.update(str(path.relative_to(REPO)).encode())
            with contextlib.suppress(OSError):
                digest.update(path.read_bytes())
    git = ["git", "-C", str(REPO)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "src/worker", "src/spectare"],
        capture_output=True,
        text=True,
    )
    commit = head.stdout.strip() or "?"
    if dirty.stdout.strip():
        commit += " with uncommitted changes in src/worker/ or src/spectare/"
    return commit, digest.hexdigest()[:12]


def yes(ok: bool) -> str:
    return "**yes**" if ok else "**NO**"


def report(
    o: Options,
    argv: list[str],
    facts: dict[str, str],
    started: float,
    cost: dict[str, list[dict[str, Any]]],
    kills: list[dict[str, dict[str, Any]]],
) -> str:
    lines: list[str] = []
    add = lines.append
    now = dt.datetime.now(dt.UTC)
    command = ".venv/bin/python bench/record_cost.py" + (" " + shlex.join(argv) if argv else "")
    add("# Recording cost: Spectare worker vs bare ffmpeg")
    add("")
    add(f"- Date: {now:%Y-%m-%d %H:%M} UTC (run took {(time.time() - started) / 60:.1f} min)")
    add(
        f"- Machine: `{facts['host']}`, nproc {facts['nproc']}, {facts['cpu']}, "
        f"{facts['memory']} RAM, Linux {facts['kernel']}"
    )
    add(f"- Software: {facts['ffmpeg']}; {facts['gstreamer']}; Python {facts['python']}")
    add(f"- Code: commit {facts['commit']} (code fingerprint {facts['fingerprint']})")
    if facts.get("changed"):
        add("- **WARNING: the code changed during the run: figures mix code versions**")
    add(f"- Command: `{command}`")
    add(
        f"- Cameras: {o.cameras} x {o.width}x{o.height} H.264, {o.fps} fps, "
        f"{o.bitrate_kbps} kbit/s "
        f"(filler-padded CBR), GOP {o.gop_seconds:g} s, RTSP/TCP from one demo server on "
        f"127.0.0.1 (one shared x264 encoder); each camera recorded at once by (a) a "
        f"`spectare worker` and (b) a bare ffmpeg with the worker's own `record_command()`"
    )
    add(
        f"- Cost runs: container {o.container}, segments of {o.segment_seconds} s, heartbeat "
        f"{o.heartbeat_seconds:g} s, SQLite store; window {o.seconds:g} s after a warm-up; "
        f"{o.repeat} repetition(s), modes interleaved; figures are medians (min-max) over "
        f"repetitions of the mean over cameras"
    )
    all_runs = [r for runs in cost.values() for r in runs]
    if all_runs:
        loads = [r["load"][0][0] for r in all_runs] + [r["load"][1][0] for r in all_runs]
        busy = [r["machine_busy_pct"] for r in all_runs]
        server = [r["server_cpu_pct"] for r in all_runs]
        realtime = [r["realtime"] for r in all_runs]
        ncpu = os.cpu_count() or 1
        others = [
            max(
                0.0,
                r["machine_busy_pct"] / 100 * ncpu
                - (
                    (r["a_cpu"] + r["b_cpu"]) * o.cameras / 60
                    + (r["server_cpu_pct"] + r["bench_cpu_pct"]) / 100
                ),
            )
            for r in all_runs
        ]
        before = [r["busy_before_pct"] for r in all_runs]
        add(
            f"- Machine load during windows: load average {min(loads):.1f}-{max(loads):.1f}; "
            f"all CPUs {min(busy):.0f}-{max(busy):.0f} % busy, of which other people's work "
            f"(builds, tests) {min(others):.2f}-{max(others):.2f} of {ncpu} cores; "
            f"{min(before):.0f}-{max(before):.0f} % busy just before the runs"
        )
        verdict = "kept real time" if min(realtime) >= 0.97 else "**did NOT keep real time**"
        add(
            f"- Before each run the bench waited up to {o.quiet_wait:g} s for the CPUs to be "
            f"at most {o.quiet_below:g} % busy (then ran anyway)"
        )
        add(
            f"- Camera server: {median(server):.0f} % of one core; frames delivered per wall "
            f"second / {o.fps} fps, worst camera: {min(realtime):.3f} ({verdict})"
        )
        add(
            f"- Sampler (this script): {median([r['bench_cpu_pct'] for r in all_runs]):.1f} % of "
            f"one core; memory sampled every {o.sample_interval:g} s"
        )
    add("")

    rec = cost.get("record", [])
    ana = cost.get("analyse", [])

    def col(runs: list[dict[str, Any]], key: str) -> list[float]:
        return [r[key] for r in runs]

    def ratio(runs: list[dict[str, Any]], a: str, b: str) -> list[float]:
        return [r[a] / r[b] for r in runs if r[b]]

    extra = [
        (x["a_cpu"] - x["b_cpu"]) - (y["a_cpu"] - y["b_cpu"])
        for x, y in zip(ana, rec, strict=False)
    ]
    targets: list[tuple[str, str, str]] = []
    if rec:
        r = median(ratio(rec, "a_cpu", "b_cpu"))
        targets.append(
            (
                f"CPU ratio a/b, recording with motion off ≤ {TARGET_RATIO:.2f}",
                f"{r:.3f}",
                yes(r <= TARGET_RATIO),
            )
        )
    if ana:
        e = median(extra)
        base = median(col(rec, "b_cpu")) if rec else float("nan")
        targets.append(
            (
                "Extra CPU of motion scoring + thumbnails + snapshots (keep small)",
                f"{e:.3f} s per camera-minute ({100 * e / base:.0f} % of bare ffmpeg)",
                "reported",
            )
        )
    for runs, label in ((rec, "mode 1, recording"), (ana, "mode 2, with analysis")):
        if not runs:
            continue
        mean = median(col(runs, "a_pss"))
        peak = median(col(runs, "a_pss_max"))
        targets.append(
            (
                f"PSS per camera incl. ffmpeg ≤ {TARGET_PSS_MB:.0f} MB ({label}; judged on "
                "the mean over the window)",
                f"{mean:.1f} MB mean; {peak:.1f} MB at the largest sample, while helpers "
                "finish a segment",
                yes(mean <= TARGET_PSS_MB),
            )
        )
    for container in CONTAINERS if kills else ():
        share = [k[container]["worker_recovered"] / k[container]["worker_recorded"] for k in kills]
        targets.append(
            (
                f"Killed segment recovered by the worker ≥ {TARGET_RECOVERED:.0%} ({container})",
                f"{100 * median(share):.1f} % (worst {100 * min(share):.1f} %)",
                yes(min(share) >= TARGET_RECOVERED),
            )
        )
    add("## Targets")
    add("")
    add("| target | measured | met |")
    add("|---|---|---|")
    for name, value, ok in targets:
        add(f"| {name} | {value} | {ok} |")
    add("")

    def cost_table(runs: list[dict[str, Any]], title: str) -> None:
        def row(label: str, key: str, fmt: str, both: bool = True, versus: bool = True) -> None:
            a = spread(col(runs, f"a_{key}"), fmt)
            b = spread(col(runs, f"b_{key}"), fmt) if both else "-"
            r = spread(ratio(runs, f"a_{key}", f"b_{key}"), ".3f") if both and versus else ""
            add(f"| {label} | {a} | {b} | {r} |")

        add(f"## {title}")
        add("")
        add("| figure (per camera) | (a) Spectare worker | (b) bare ffmpeg | a/b |")
        add("|---|---|---|---|")
        row("CPU s per camera-minute, all processes", "cpu", ".3f")
        row("... of which recording ffmpeg", "recorder_cpu", ".3f")
        row("... of which worker Python (all threads)", "python_cpu", ".3f", both=False)
        row("... of which helpers (ffprobe, thumbnail/motion ffmpeg)", "helper_cpu", ".3f", False)
        row("PSS, MB (mean over window)", "pss", ".1f")
        row("... of which worker Python", "python_pss", ".1f", both=False)
        row("... of which recording ffmpeg", "recorder_pss", ".1f")
        row("PSS, MB, largest sample of any camera", "pss_max", ".1f", versus=False)
        row("USS (private), MB", "uss", ".1f", versus=False)
        row("peak RSS, MB (sum of VmHWM of live processes)", "hwm", ".1f")
        per_segment = [
            r["a_helper_cpu"] * r["window"] / 60 / r["a_segments"] for r in runs if r["a_segments"]
        ]
        add(
            "| helper CPU s per finished segment (scales with 1/segment length) | "
            f"{spread(per_segment, '.3f')} | - | |"
        )
        row("segments closed in the window", "segments", ".1f", versus=False)
        startup = spread(col(runs, "startup_cpu"), ".2f")
        add(f"| worker Python start-up CPU s (one-off, not in the window) | {startup} | - | |")
        warned: dict[str, int] = {}
        for r in runs:
            for key, count in r["worker_warnings"].items():
                warned[key] = warned.get(key, 0) + count
        warnings = ", ".join(f"{count} x {key}" for key, count in sorted(warned.items())) or "none"
        restarts = sorted({c for r in runs for c in r["restarts"]})
        add("")
        add(
            f"Window {median(col(runs, 'window')):.1f} s after {median(col(runs, 'warmup')):.0f} s "
            f"of warm-up; warnings/errors in the workers' logs (whole run): {warnings}; recording "
            "ffmpeg restarted "
            f"during a window: {', '.join(restarts) or 'never'}."
        )
        add("")

    if rec:
        cost_table(rec, "Mode 1: recording (motion off, snapshots off; a thumbnail per segment)")
    if ana:
        cost_table(
            ana, f"Mode 2: motion scoring + thumbnails on, snapshots every {o.snapshot_seconds} s"
        )
        add(
            "Extra cost of analysis, per camera-minute, against mode 1 (each run's own bare "
            "ffmpeg subtracted, so machine drift between runs cancels):"
        )
        add("")
        add("| extra, CPU s per camera-minute | median (min-max) |")
        add("|---|---|")
        add(f"| **motion scoring + thumbnails + snapshots, total** | **{spread(extra, '.3f')}** |")
        snap = [
            (x["a_recorder_cpu"] - x["b_recorder_cpu"])
            - (y["a_recorder_cpu"] - y["b_recorder_cpu"])
            for x, y in zip(ana, rec, strict=False)
        ]
        add(
            f"| snapshots (recording ffmpeg decodes keyframes, JPEG every {o.snapshot_seconds} s) "
            f"| {spread(snap, '.3f')} |"
        )
        if rec:
            helper = [x["a_helper_cpu"] - y["a_helper_cpu"] for x, y in zip(ana, rec, strict=False)]
            py = [x["a_python_cpu"] - y["a_python_cpu"] for x, y in zip(ana, rec, strict=False)]
            add(
                "| motion keyframe decode (helper ffmpeg, beyond mode 1's thumbnail) | "
                f"{spread(helper, '.3f')} |"
            )
            add(f"| motion scoring in the worker's Python | {spread(py, '.3f')} |")
        add("")
        details = [r["detail"] for r in ana if r.get("detail")]
        if details:
            d = details[-1]
            add(
                f"Worker Python memory (one worker, mode 2): {d['libraries']} shared objects "
                f"mapped; heavy ones (OpenCV, NumPy, libav*): {', '.join(d['heavy']) or 'none'}. "
                "Largest PSS by mapping: "
                + ", ".join(f"{Path(n).name} {v:.1f} MB" for n, v in d["top"])
                + "."
            )
            add("")

    if kills:
        add("## SIGKILL mid-segment: seconds of the killed segment that stay playable")
        add("")
        add(
            f"Segments of {o.kill_segment_seconds} s; the worker (Python and ffmpeg, frozen "
            f"with SIGSTOP then SIGKILLed together) and a bare ffmpeg with the same "
            f"arguments are killed {o.kill_at:g} s after their second segment opened; a new "
            f"worker (same worker id) recovers the leftover. Playable = frames that decode "
            f"(ffprobe -count_frames) / {o.fps} fps. {len(kills)} trial(s), median (min-max)."
        )
        add("")
        add(
            "| container | recorded before kill, s | worker: recovered, s | worker: % | "
            "indexed duration, s | bare ffmpeg: kept, s | bare ffmpeg: % |"
        )
        add("|---|---|---|---|---|---|---|")
        for c in CONTAINERS:
            ks = [k[c] for k in kills]
            add(
                f"| {c} | {spread([k['worker_recorded'] for k in ks], '.2f')} | "
                f"{spread([k['worker_recovered'] for k in ks], '.2f')} | "
                f"{spread([100 * k['worker_recovered'] / k['worker_recorded'] for k in ks], '.1f')}"
                " | "
                f"{spread([k['worker_indexed'] for k in ks], '.2f')} | "
                f"{spread([k['bare_recovered'] for k in ks], '.2f')} | "
                f"{spread([100 * k['bare_recovered'] / k['bare_recorded'] for k in ks], '.1f')} |"
            )
        q = sum(k[c]["worker_quarantined"] for k in kills for c in CONTAINERS)
        add("")
        add(
            f"Leftovers quarantined as unplayable: {q}. (Figures are mp4 = fragmented MP4 as the "
            "worker writes it.)"
        )
        add("")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=8, help="cameras (default %(default)s)")
    parser.add_argument(
        "--seconds", type=float, default=60.0, help="measured window T (default %(default)s)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (default %(default)s)")
    parser.add_argument(
        "--warmup",
        type=float,
        help="seconds between recording start and window "
        "(default: puts each segment boundary mid-window)",
    )
    parser.add_argument("--segment-seconds", type=int, default=60)
    parser.add_argument("--container", choices=CONTAINERS, default="mp4", help="for the cost modes")
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--bitrate-kbps", type=int, default=4000)
    parser.add_argument("--gop-seconds", type=float, default=2.0)
    parser.add_argument("--snapshot-seconds", type=int, default=10, help="in mode 2")
    parser.add_argument("--kill-at", type=float, default=15.0, help="seconds into the segment")
    parser.add_argument("--kill-segment-seconds", type=int, default=60)
    parser.add_argument("--heartbeat-seconds", type=float, default=5.0)
    parser.add_argument("--sample-interval", type=float, default=0.5)
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=30.0,
        help="before each run, wait until all CPUs are at most this %% busy (default %(default)s)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="longest wait for that, seconds; then run anyway (default %(default)s)",
    )
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a new one in /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep footage and logs")
    parser.add_argument("--skip-cost", action="store_true", help="only the kill trials")
    parser.add_argument("--skip-kill", action="store_true", help="only the cost modes")
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help="markdown file (default %(default)s)"
    )
    args = parser.parse_args(argv)
    if args.cameras < 1 or args.repeat < 1 or args.seconds <= 0:
        parser.error("--cameras, --repeat and --seconds must be positive")
    return Options(**{k.replace("-", "_"): v for k, v in vars(args).items()})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    o = parse_args(argv)
    # Stop cleanly (recorders killed, camera stopped) on Ctrl-C and on SIGTERM, also when
    # started in the background, where SIGINT is ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.time()
    facts = machine_facts()
    commit, fingerprint = code_version()
    facts["commit"] = commit
    facts["fingerprint"] = fingerprint
    if o.cameras != 8:
        log(f"note: {o.cameras} cameras instead of the default 8")
    workdir = o.workdir or Path(tempfile.mkdtemp(prefix="spectare-record-cost-"))
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"scratch folder {workdir}; load average {os.getloadavg()[0]:.2f}")
    mounts = max(o.cameras, len(CONTAINERS))
    camera = DemoCamera(
        paths=[f"/cam{i}" for i in range(mounts)],
        host="127.0.0.1",
        width=o.width,
        height=o.height,
        fps=o.fps,
        bitrate_kbps=o.bitrate_kbps,
        gop_seconds=o.gop_seconds,
        share_encoder=True,
        fill_bitrate=True,
        log_path=workdir / "camera.log",
    )
    cost: dict[str, list[dict[str, Any]]] = {"record": [], "analyse": []}
    kills: list[dict[str, dict[str, Any]]] = []
    bench = Bench(o, camera, workdir)
    try:
        with camera:
            log(f"demo camera up: {camera!r}")
            for repeat in range(1, o.repeat + 1):
                if o.skip_cost:
                    break
                for mode in ("record", "analyse"):
                    run = bench.cost_run(mode, repeat)
                    cost[mode].append(run)
                    log(
                        f"{mode} #{repeat}: a {run['a_cpu']:.3f} / b {run['b_cpu']:.3f} CPU s per "
                        f"camera-minute (ratio {run['a_cpu'] / run['b_cpu']:.3f}); PSS a "
                        f"{run['a_pss']:.1f} / b {run['b_pss']:.1f} MB; real time "
                        f"{run['realtime']:.3f}; machine {run['machine_busy_pct']:.0f} % busy"
                    )
                    if run["realtime"] < 0.97:
                        log(
                            f"WARNING: the camera server did not keep real time with "
                            f"{o.cameras} cameras (ratio {run['realtime']:.3f}); try fewer "
                            f"--cameras"
                        )
            for repeat in range(1, o.repeat + 1):
                if o.skip_kill:
                    break
                kills.append(bench.kill_trial(repeat))
    finally:
        if not o.keep and o.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if code_version()[1] != fingerprint:
        facts["changed"] = "yes"
        log("WARNING: the code changed during the run; figures mix code versions")
    text = report(o, argv, facts, started, cost, kills)
    print(text)
    o.output.parent.mkdir(parents=True, exist_ok=True)
    o.output.write_text(text + "\n")
    log(f"written to {o.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
