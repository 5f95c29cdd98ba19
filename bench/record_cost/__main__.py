"""What recording costs, measured side by side on grainy 1080p cameras.

    .venv/bin/python bench/record_cost [--cameras 4] [--seconds 120] [--repeat 2]
        [--ffmpeg-from DIR_OR_IMAGE_TAR]

Every run records all cameras at once with one subject (Spectare with its defaults,
Spectare with motion off, Frigate's recording pipeline) and with a bare
ffmpeg; subjects are interleaved across repetitions so that the machine's drift hits
them alike. CPU is user + system time of each process tree from /proc (helpers the
worker has reaped included), PSS is sampled every second. Then crash recovery per
container. Results go to bench/results/record_cost.md (see report.py).

``--ffmpeg-from`` runs every recorder (Spectare, bare ffmpeg, Frigate's) with another
ffmpeg build: a directory holding ffmpeg and ffprobe, or a ``docker save`` tar of the
worker image, to measure the build the worker image ships.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from record_cost import cost, kill, report, source
from record_cost.procs import log

RESULTS = Path(__file__).resolve().parent.parent / "results" / "record_cost.md"
SUBJECTS = ("defaults", "off", "frigate")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=120.0, help="window per run")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--segment", type=int, default=60, help="Spectare's segment seconds")
    parser.add_argument("--kill-segment", type=int, default=60)
    parser.add_argument("--kill-at", type=float, default=15.0)
    parser.add_argument("--kill-trials", type=int, default=1)
    parser.add_argument("--subjects", default=",".join(SUBJECTS))
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--ffmpeg-from", type=Path, help="directory or worker image tar")
    return parser.parse_args(argv)


def use_ffmpeg_from(source_: Path, work: Path) -> None:
    """Put the ffmpeg and ffprobe of ``source_`` first on PATH, for every recorder."""
    folder = source_
    if source_.is_file():  # a `docker save` tar: the binaries are in one of its layers
        folder = work / "ffmpeg-bin"
        folder.mkdir()
        with tarfile.open(source_) as image:
            for layer in (m for m in image.getmembers() if m.name.endswith("layer.tar")):
                with tarfile.open(fileobj=image.extractfile(layer)) as files:
                    for member in files.getmembers():
                        if member.isfile() and member.name.endswith(("bin/ffmpeg", "bin/ffprobe")):
                            member.name = Path(member.name).name
                            files.extract(member, folder)
    if not (folder / "ffmpeg").exists() or not (folder / "ffprobe").exists():
        raise SystemExit(f"no ffmpeg and ffprobe in {source_}")
    os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ['PATH']}"


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.time()
    clip = source.make_clip(source.Clip(source.CACHE / "grain-1080p15-4M-10min.mkv"))
    subjects = opts.subjects.split(",")
    with tempfile.TemporaryDirectory(prefix="record-cost-") as tmp:
        work = Path(tmp)
        if opts.ffmpeg_from is not None:  # after the clip: a minimal build has no encoder
            use_ffmpeg_from(opts.ffmpeg_from, work)
        server = source.ClipServer(clip, max(opts.cameras, 3), work / "server.log")
        try:
            runs, stream = [], (0.0, 0.0, 0.0)
            for repeat in range(opts.repeat):
                # Rotate the order: no subject always runs first or last.
                order = subjects[repeat % len(subjects) :] + subjects[: repeat % len(subjects)]
                for subject in order:
                    root = work / f"{subject}-{repeat}"
                    run = cost.cost_run(server, subject, opts.cameras, opts.seconds,
                                        opts.segment, root)  # fmt: skip
                    if run["sample_file"] and stream == (0.0, 0.0, 0.0):
                        stream = source.packet_sizes(Path(run["sample_file"]))
                        log(f"as recorded: keyframes {stream[0]:.1f} kB, others "
                            f"{stream[1]:.1f} kB, {stream[2]:.2f} Mbit/s")  # fmt: skip
                    runs.append(run)
                    cost.cleanup(root)
            kills = [
                kill.kill_trial(server, work / f"kill-{n}", opts.kill_segment, opts.kill_at, 15)
                for n in range(opts.kill_trials)
            ]
        finally:
            server.close()
        text = report.render(opts, runs, kills, stream, started)
    opts.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
