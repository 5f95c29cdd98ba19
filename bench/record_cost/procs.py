"""Reading /proc: CPU time and memory of process trees, how busy the machine is."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterable

CLK_TCK = os.sysconf("SC_CLK_TCK")


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
