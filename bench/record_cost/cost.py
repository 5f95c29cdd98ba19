"""One cost run: every camera recorded at once by a subject (Spectare with its defaults,
Spectare with motion off, or Frigate's recording pipeline) and by a bare ffmpeg, side by
side, over a window; CPU seconds per camera-minute and PSS per camera of each."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from record_cost import recorders
from record_cost.procs import descendants, freeze_and_kill, log, proc_memory, proc_times
from record_cost.recorders import Recorder
from record_cost.source import ClipServer

#: Subjects: Spectare's worker with a Camera spec, or Frigate's pipeline. (The worker
#: makes no snapshots any more: the API makes pictures when they are asked for.)
SPECS: dict[str, dict[str, Any]] = {
    "defaults": {"motion": {"enabled": True}},
    "off": {"motion": {"enabled": False}},
}


def _tree_cpu(pid: int) -> float:
    """Own and reaped children's CPU of ``pid`` and its live descendants."""
    total = 0.0
    for child, _ in descendants(pid, fresh=True):
        times = proc_times(child)
        total += sum(times) if times else 0.0
    times = proc_times(pid)
    return total + (sum(times) if times else 0.0)


def _tree_pss(pid: int) -> float:
    pids = [pid, *(p for p, _ in descendants(pid))]
    return sum((proc_memory(p) or {}).get("pss", 0.0) for p in pids)


def cost_run(
    server: ClipServer, subject: str, cameras: int, seconds: float, segment: int, root: Path
) -> dict[str, Any]:
    """Record ``cameras`` cameras with ``subject`` and bare ffmpeg at once; the figures."""
    root.mkdir(parents=True)
    bares: list[Recorder] = []
    subjects: list[Recorder] = []
    maintainer: subprocess.Popen[bytes] | None = None
    try:
        for i in range(cameras):
            name, url = f"cam{i}", server.url(i)
            spec = {"url": url, "segmentSeconds": segment, **SPECS.get(subject, {})}
            bares.append(recorders.start_bare(root, name, spec, "mp4"))
            if subject == "frigate":
                subjects.append(recorders.start_frigate(root, name, url))
            else:
                subjects.append(recorders.start_worker(root, name, spec, "mp4"))
        if subject == "frigate":
            maintainer = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("frigate.py")),
                 str(root / "frigate-cache"), str(root / "frigate-recordings")],
                start_new_session=True,
            )  # fmt: skip
        everyone = bares + subjects
        deadline = time.monotonic() + 90
        while not all(rec.writing() for rec in everyone):
            for rec in everyone:
                if rec.popen.poll() is not None:
                    raise RuntimeError(f"{rec.kind} {rec.camera} exited; see {rec.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError("recorders did not start writing within 90 s")
            time.sleep(0.2)
        time.sleep(15)  # warm-up: connections settled, first keyframes in
        load = [os.getloadavg()[0]]
        for rec in everyone:
            rec.marks.append(rec.cpu_mark())
        kept0 = _tree_cpu(maintainer.pid) if maintainer else 0.0
        t0, shared_pss = time.monotonic(), []
        while time.monotonic() - t0 < seconds:
            for rec in everyone:
                rec.memory_sample()
            if maintainer is not None:
                shared_pss.append(_tree_pss(maintainer.pid))
            time.sleep(1.0)
        for rec in everyone:
            rec.marks.append(rec.cpu_mark())
        kept1 = _tree_cpu(maintainer.pid) if maintainer else 0.0
        window = time.monotonic() - t0
        load.append(os.getloadavg()[0])
        recorders.stop(everyone)
    except BaseException:
        for rec in bares + subjects:
            if rec.popen.poll() is None:
                freeze_and_kill([p for p, _ in rec.tree()])
                rec.popen.wait()
        raise
    finally:
        if maintainer is not None:
            maintainer.terminate()
            maintainer.wait(timeout=30)
    minutes = window / 60.0

    def per_minute(rec: Recorder, attr: str) -> float:
        a, b = rec.marks
        return float(getattr(b, attr) - getattr(a, attr)) / minutes

    def mean_of(group: list[Recorder], key: str) -> float:
        return statistics.fmean(statistics.fmean(s[key] for s in r.samples) for r in group)

    shared_cpu = (kept1 - kept0) / minutes / cameras
    shared_mem = statistics.fmean(shared_pss) / cameras if shared_pss else 0.0
    result = {
        "subject": subject,
        "window": window,
        "load": load,
        "bare_cpu": statistics.fmean(per_minute(r, "total") for r in bares),
        "bare_pss": mean_of(bares, "pss"),
        "cpu": statistics.fmean(per_minute(r, "total") for r in subjects) + shared_cpu,
        "recorder_cpu": statistics.fmean(per_minute(r, "recorder") for r in subjects),
        "python_cpu": statistics.fmean(per_minute(r, "python") for r in subjects) + shared_cpu,
        "pss": mean_of(subjects, "pss") + shared_mem,
        "python_pss": mean_of(subjects, "python_pss") + shared_mem,
        "recorder_pss": mean_of(subjects, "recorder_pss"),
        "pss_max": max(max(s["pss"] for s in r.samples) for r in subjects) + shared_mem,
        "restarted": sum(r.marks[0].recorder_pid != r.marks[1].recorder_pid for r in subjects),
    }
    result["helper_cpu"] = result["cpu"] - result["recorder_cpu"] - result["python_cpu"]
    result["ratio"] = result["cpu"] / result["bare_cpu"]
    log(
        f"{subject}: {result['cpu']:.3f} vs bare {result['bare_cpu']:.3f} CPU s per "
        f"camera-minute ({result['ratio']:.2f}x); PSS {result['pss']:.1f} vs "
        f"{result['bare_pss']:.1f} MB"
    )
    sample = next(root.glob("bare/cam0/*.mp4"), None)
    result["sample_file"] = str(sample) if sample else None
    return result


def cleanup(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
