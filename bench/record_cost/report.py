"""The Markdown report of a run: targets, cost side by side, crash recovery."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

TARGETS = {"defaults": 1.25, "off": 1.05}
TARGET_PSS_MB = 30.0
TARGET_KEPT = 0.95
NAMES = {
    "defaults": "Spectare, defaults (motion on; pictures are the API's, on demand)",
    "off": "Spectare, motion off",
    "frigate": "Frigate's recording pipeline (ffmpeg, then ffprobe + faststart remux per "
    "10 s segment)",
}


def spread(values: list[float], fmt: str = ".3f") -> str:
    """Median, and (min-max) when there are several."""
    if not values:
        return "-"
    text = format(statistics.median(values), fmt)
    if len(values) > 1:
        text += f" ({format(min(values), fmt)}-{format(max(values), fmt)})"
    return text


def machine() -> str:
    model = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    return (
        f"{os.cpu_count()} cores, {model}; Linux {platform.release()}; Python "
        f"{platform.python_version()}; {ffmpeg.split(' Copyright')[0]}"
    )


def ffmpeg_option(opts: Any) -> str:
    """The command's ``--ffmpeg-from`` and ``--output``, as given (home folder shortened)."""
    text = ""
    if opts.ffmpeg_from is not None:
        text += f" --ffmpeg-from {str(opts.ffmpeg_from).replace(str(Path.home()), '~')}"
    if opts.output.name != "record_cost.md":
        text += f" --output bench/results/{opts.output.name}"
    return text


def commit() -> str:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], capture_output=True,
                           text=True)  # fmt: skip
    return head.stdout.strip() + (" (with uncommitted changes in src/)" if dirty.stdout else "")


def render(opts: Any, runs: list[dict[str, Any]], kills: list[dict[str, Any]],
           stream: tuple[float, float, float], started: float) -> str:  # fmt: skip
    """The whole report."""
    by: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        by.setdefault(run["subject"], []).append(run)
    loads = [x for run in runs for x in run["load"]]
    out = [
        "# Recording cost: Spectare against bare ffmpeg and Frigate's recording pipeline",
        "",
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}; run took "
        f"{(time.time() - started) / 60:.1f} min; commit {commit()}",
        f"- Machine: {machine()}",
        f"- Load average (1 min) during the windows: {min(loads):.2f}-{max(loads):.2f}; the "
        "machine is shared with other work, so figures are CPU time, not wall time",
        f"- Command: `.venv/bin/python bench/record_cost --cameras {opts.cameras} --seconds "
        f"{opts.seconds:g} --repeat {opts.repeat}{ffmpeg_option(opts)}`",
        f"- Cameras: {opts.cameras} x 1920x1080 H.264, 15 fps, GOP 2 s, no B-frames, from a "
        "clip with sensor-like grain served in real time over RTSP/TCP on 127.0.0.1; as "
        f"recorded: keyframes {stream[0]:.1f} kB, other frames {stream[1]:.1f} kB, "
        f"{stream[2]:.2f} Mbit/s",
        f"- Each run records every camera with one subject and with a bare ffmpeg (the "
        "worker's own record_command, motion off) at the same time; window "
        f"{opts.seconds:g} s after 15 s of warm-up; segments {opts.segment} s (Frigate: its "
        f"own 10 s); {opts.repeat} repetition(s), subjects interleaved; median (min-max)",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for subject, limit in TARGETS.items():
        ratios = [r["ratio"] for r in by.get(subject, [])]
        ok = bool(ratios) and statistics.median(ratios) <= limit
        out.append(f"| CPU {NAMES[subject]} / bare ffmpeg <= {limit} | {spread(ratios)} | "
                   f"{'**yes**' if ok else '**NO**'} |")  # fmt: skip
    pss = [r["pss"] for r in by.get("defaults", [])]
    ok = bool(pss) and statistics.median(pss) <= TARGET_PSS_MB
    out.append(f"| PSS per camera, defaults <= {TARGET_PSS_MB:g} MB | {spread(pss, '.1f')} MB | "
               f"{'**yes**' if ok else '**NO**'} |")  # fmt: skip
    for container in ("mp4", "ts", "mkv") if kills else ():
        shares = [k[container]["kept"] / k[container]["recorded"] for k in kills]
        ok = bool(shares) and min(shares) >= TARGET_KEPT
        out.append(f"| killed segment kept by the worker >= 95 % ({container}) | "
                   f"{spread([100 * s for s in shares], '.1f')} % | "
                   f"{'**yes**' if ok else '**NO**'} |")  # fmt: skip
    out += [
        "",
        "## CPU seconds per camera-minute and PSS per camera, side by side",
        "",
        "| subject | CPU s, subject | CPU s, bare ffmpeg (same run) | ratio | of which "
        "recording ffmpeg | Python | other helpers | PSS MB, subject | of which Python | "
        "PSS MB, bare |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for subject, group in by.items():

        def col(key: str, fmt: str = ".3f", rows: list[dict[str, Any]] = group) -> str:
            return spread([r[key] for r in rows], fmt)

        out.append(
            f"| {NAMES[subject]} | {col('cpu')} | {col('bare_cpu')} | {col('ratio', '.2f')} | "
            f"{col('recorder_cpu')} | {col('python_cpu')} | {col('helper_cpu')} | "
            f"{col('pss', '.1f')} | {col('python_pss', '.1f')} | {col('bare_pss', '.1f')} |"
        )
    restarts = sum(r["restarted"] for r in runs)
    out += [
        "",
        f"Recording ffmpeg restarted during a window: {restarts} time(s). For Frigate, "
        "'Python' is its one maintainer process (with the ffprobe and remux it runs) shared "
        "by all cameras and divided by their number.",
    ]
    if not kills:
        return "\n".join(out) + "\n"
    out += [
        "",
        "## SIGKILL mid-segment: seconds of the killed segment that stay playable",
        "",
        f"Segments of {opts.kill_segment} s, killed {opts.kill_at:g} s into the second; "
        f"{len(kills)} trial(s).",
        "",
        "| container | recorded, s | worker kept, s | worker % | bare ffmpeg kept, s | bare % |",
        "|---|---|---|---|---|---|",
    ]
    for container in ("mp4", "ts", "mkv"):
        rows = [k[container] for k in kills]

        def pick(key: str, rows: list[dict[str, float]] = rows) -> list[float]:
            return [r[key] for r in rows]

        out.append(
            f"| {container} | {spread(pick('recorded'), '.2f')} | {spread(pick('kept'), '.2f')} | "
            f"{spread([100 * r['kept'] / r['recorded'] for r in rows], '.1f')} | "
            f"{spread(pick('bare_kept'), '.2f')} | "
            f"{spread([100 * r['bare_kept'] / r['bare_recorded'] for r in rows], '.1f')} |"
        )
    return "\n".join(out) + "\n"
