"""The Dockerfiles, without Docker: their rules checked, their install line reproduced.

No engine can build images here, so the build stage's `pip wheel` and `pip install` lines
are parsed out of each Dockerfile and run as written (paths mapped into a temp dir) in a
fresh virtualenv; then each image's command runs `--help` from that virtualenv.
"""

from __future__ import annotations

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


def pip_commands(path: Path, verb: str) -> list[list[str]]:
    """The arguments after `pip <verb>` in the build stage's RUN lines."""
    found = []
    for word, rest in stages(path)[0]:
        if word != "RUN":
            continue
        for part in re.split(r"&&|;", rest):
            argv = shlex.split(part)
            if len(argv) >= 2 and argv[0].endswith("pip") and argv[1] == verb:
                found.append(argv[2:])
    return found


def image_command(path: Path) -> list[str]:
    final = stages(path)[-1]
    entry = [json.loads(r) for w, r in final if w == "ENTRYPOINT"]
    cmd = [json.loads(r) for w, r in final if w == "CMD"]
    return (entry[-1] if entry else []) + (cmd[-1] if cmd else [])


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_dockerfile_rules(image: str) -> None:
    path = DOCKERFILES[image]
    args = {r.split("=")[0]: r.split("=", 1)[1] for w, r in instructions(path) if w == "ARG"
            and "=" in r}  # fmt: skip
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-bookworm", base), base  # slim, pinned
    all_stages = stages(path)
    assert len(all_stages) == 2
    assert all(s[0][1].split()[0] == "${PYTHON_IMAGE}" for s in all_stages)
    final = all_stages[-1]
    users = [r for w, r in final if w == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert int(users[-1].split(":")[0]) == 10001  # the chart's runAsUser
    final_runs = " ".join(r for w, r in final if w == "RUN")
    for tool in BUILD_TOOLS:
        assert not re.search(rf"(^|\s){re.escape(tool)}(=|\s|$)", final_runs), tool
    assert "pip install" not in final_runs  # the venv is copied, nothing built here
    if image == "worker":
        assert re.search(r"apt-get install -y --no-install-recommends ffmpeg=\$\{FFMPEG_VERSION\}",
                         final_runs)  # fmt: skip
        assert re.fullmatch(r"\d+:[\w.+~-]+", args["FFMPEG_VERSION"])
    else:
        assert "ffmpeg" not in final_runs
    assert "opencv" not in path.read_text().lower()


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
    """A fresh virtualenv made by the Dockerfiles' own pip lines, from a built wheel."""
    lines = {name: (pip_commands(p, "wheel"), pip_commands(p, "install"))
             for name, p in DOCKERFILES.items()}  # fmt: skip
    assert lines["worker"] == lines["api"], "both images install the same way"
    (wheel_args,), (install_args,) = lines["worker"]
    tmp = tmp_path_factory.mktemp("image")
    wheels = tmp / "wheels"

    def mapped(args: list[str]) -> list[str]:
        out = []
        for arg in args:
            arg = arg.replace("/wheels", str(wheels))
            out.append(str(ROOT) if arg == "." else arg)
        return out

    subprocess.run([sys.executable, "-m", "pip", "wheel", *mapped(wheel_args)],
                   check=True, cwd=ROOT, capture_output=True, timeout=600)  # fmt: skip
    built = sorted(wheels.glob("spectare-*.whl"))
    assert len(built) == 1
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = [a if "*" not in a else str(built[0]) for a in mapped(install_args)]
    result = subprocess.run([str(venv / "bin" / "pip"), "install", *install],
                            capture_output=True, text=True, timeout=900)  # fmt: skip
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
