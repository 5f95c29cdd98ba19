"""The Dockerfiles, without Docker: their rules checked, their install lines reproduced.

The cluster tier (tests/cluster/test_images.py) builds both images for real, on a
debootstrap-made base; this fast tier checks the rules that keep them buildable from
any Python base and offline, and runs the build stage's `pip wheel` and `pip install`
lines as written (paths mapped into a temp dir) into a fresh pip-less virtualenv; then
each image's command runs `--help` from that virtualenv.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chart.chartlib import CHART, ROOT

DOCKERFILES = {"worker": ROOT / "Dockerfile.worker", "api": ROOT / "Dockerfile.api"}
BUILD_TOOLS = ("gcc", "g++", "build-essential", "make", "cmake", "python3-dev", "git")


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages(path: Path) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions(path):
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def pip_commands(path: Path, verb: str) -> list[tuple[str, list[str], list[str]]]:
    """(pip executable, options before the verb, arguments after it) of `pip <verb>` lines."""
    found = []
    for word, rest in stages(path)[0]:
        if word != "RUN":
            continue
        for part in re.split(r"&&|;", rest):
            argv = shlex.split(part)
            if not argv or not argv[0].endswith("/pip") or verb not in argv:
                continue
            at = argv.index(verb)
            found.append((argv[0], argv[1:at], argv[at + 1 :]))
    return found


def image_command(path: Path) -> list[str]:
    final = stages(path)[-1]
    entry = [json.loads(r) for w, r in final if w == "ENTRYPOINT"]
    cmd = [json.loads(r) for w, r in final if w == "CMD"]
    return (entry[-1] if entry else []) + (cmd[-1] if cmd else [])


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_dockerfile_rules(image: str) -> None:
    path = DOCKERFILES[image]
    text = path.read_text()
    # A `# syntax=` directive makes BuildKit pull a frontend image: no offline build.
    assert not re.search(r"(?im)^#\s*syntax\s*=", text)
    args = {r.split("=")[0]: r.split("=", 1)[1] for w, r in instructions(path) if w == "ARG"
            and "=" in r}  # fmt: skip
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-bookworm", base), base  # slim, pinned
    all_stages = stages(path)
    assert len(all_stages) == (3 if image == "worker" else 2)
    assert all(s[0][1].split()[0] == "${PYTHON_IMAGE}" for s in all_stages)
    runs = [r for s in all_stages for w, r in s if w == "RUN"]
    # Any Python base: Debian's python3 has no `python` command and may have no pip.
    for run in runs:
        for part in re.split(r"&&|;|\|\||\|", run):
            argv = shlex.split(part)
            assert not argv or argv[0] not in ("python", "pip", "pip3"), part
    # `python3 -m` puts the working directory first on sys.path: never the project's.
    build = all_stages[0]
    workdirs = [r for w, r in build if w == "WORKDIR"]
    copies = [r.split()[-1] for w, r in build if w == "COPY"]
    assert workdirs == ["/"] and all(c.startswith("/src/") for c in copies), (workdirs, copies)
    final = all_stages[-1]
    users = [r for w, r in final if w == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert int(users[-1].split(":")[0]) == 10001  # the chart's runAsUser
    final_runs = " ".join(r for w, r in final if w == "RUN")
    for tool in BUILD_TOOLS:
        assert not re.search(rf"(^|\s){re.escape(tool)}(=|\s|$)", final_runs), tool
    assert "pip install" not in final_runs  # the venv is copied, nothing built here
    if image == "worker":
        check_worker_ffmpeg(all_stages, args)
    else:
        assert "ffmpeg" not in final_runs
    assert "opencv" not in text.lower()


def _configure_list(runs: str, option: str) -> set[str]:
    found = re.search(rf"--enable-{option}=([\w,]+)", runs)
    assert found, option
    return set(found.group(1).split(","))


def check_worker_ffmpeg(all_stages: list[list[tuple[str, str]]], args: dict[str, str]) -> None:
    """ffmpeg/ffprobe built from Debian's source at the pinned version, with what the
    worker's own command lines use, and proven to run in the final stage."""
    build, final = all_stages[1], all_stages[2]
    assert build[0][1].split()[-1] == "ffmpeg"
    runs = " ".join(r for w, r in build if w == "RUN")
    assert re.fullmatch(r"\d+:[\w.+~-]+", args["FFMPEG_VERSION"])
    assert "apt-get source --only-source ffmpeg=${FFMPEG_VERSION}" in runs
    for option in ("--disable-everything", "--disable-autodetect", "--enable-openssl"):
        assert option in runs, option
    assert "--enable-gpl" not in runs and "--enable-nonfree" not in runs
    worker_source = (ROOT / "src" / "worker" / "ffmpeg.py").read_text()
    muxers = ast.literal_eval(worker_source.split("_MUXERS", 1)[1].split("=", 1)[1].split("\n")[0])
    assert set(muxers.values()) <= _configure_list(runs, "muxer"), muxers
    assert {"segment", "image2", "rawvideo"} <= _configure_list(runs, "muxer")
    filters = {f.split("=")[0] for chain in re.findall(r'"-vf", f?"([^"]+)"', worker_source)
               for f in chain.split(",")}  # fmt: skip
    assert filters and filters <= _configure_list(runs, "filter"), filters
    assert {"rtsp", "mov", "mpegts", "matroska"} <= _configure_list(runs, "demuxer")
    # The API runs this image too: exports join segments with the concat demuxer.
    assert "concat" in _configure_list(runs, "demuxer")
    assert {"h264", "hevc"} <= _configure_list(runs, "decoder")
    assert {"tcp", "udp", "tls", "file", "pipe"} <= _configure_list(runs, "protocol")
    copies = [r for w, r in final if w == "COPY" and "--from=ffmpeg" in r]
    assert copies and "ffmpeg" in copies[0] and "ffprobe" in copies[0]
    final_runs = " ".join(r for w, r in final if w == "RUN")
    assert "apt-get" not in final_runs  # nothing installed in the final stage
    for check in ("ffmpeg -hide_banner -version", "ffprobe -hide_banner -version", "ldd",
                  "not found"):  # fmt: skip
        assert check in final_runs, check


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().split()
    assert lines[lines.index("**")] == "**"
    for needed in ("!pyproject.toml", "!src/"):
        assert needed in lines


def test_images_match_the_chart() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["runAsUser"] == 10001
    assert image_command(DOCKERFILES["api"]) == ["spectare", "api"]
    assert image_command(DOCKERFILES["worker"])[:2] == ["spectare", "worker"]


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh pip-less virtualenv filled by the Dockerfiles' own pip lines, from a wheel."""
    lines = {name: (pip_commands(p, "wheel"), pip_commands(p, "install"))
             for name, p in DOCKERFILES.items()}  # fmt: skip
    assert lines["worker"] == lines["api"], "both images install the same way"
    ((_, wheel_opts, wheel_args),), ((_, install_opts, install_args),) = lines["worker"]
    # The runtime venv has no pip: the build venv's pip installs into it.
    assert wheel_opts == [] and install_opts == ["--python", "/opt/spectare/bin/python"]
    assert "--only-binary=:all:" in install_args  # nothing is compiled in the image
    tmp = tmp_path_factory.mktemp("image")
    wheels = tmp / "wheels"
    venv = tmp / "venv"

    def mapped(args: list[str]) -> list[str]:
        out = []
        for arg in args:
            arg = arg.replace("/wheels", str(wheels)).replace("/opt/spectare", str(venv))
            out.append(str(ROOT) if arg == "/src" else arg)
        return out

    subprocess.run([sys.executable, "-m", "pip", "wheel", *mapped(wheel_args)],
                   check=True, cwd=ROOT, capture_output=True, timeout=600)  # fmt: skip
    built = sorted(wheels.glob("spectare-*.whl"))
    assert len(built) == 1
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)  # fmt: skip
    install = [a if "*" not in a else str(built[0]) for a in mapped(install_args)]
    result = subprocess.run([sys.executable, "-m", "pip", *mapped(install_opts), "install",
                             *install], capture_output=True, text=True, timeout=900)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return venv


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [["spectare", "worker", "--help"], ["spectare", "api", "--help"],
     ["spectare", "operator", "--help"], ["spectare", "crd"]],
    ids=["worker", "api", "operator", "crd"],
)  # fmt: skip
def test_image_commands_run(image_venv: Path, command: list[str]) -> None:
    argv = [str(image_venv / "bin" / command[0]), *command[1:]]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=image_venv)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip()
