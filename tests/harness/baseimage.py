"""A Python base image made locally with debootstrap: no container registry is needed.

``ensure_base(engine)`` returns the tag of a Debian bookworm image
(``debootstrap --variant=minbase`` with Debian's python3, python3-venv and
ca-certificates) imported into the private engine with ``docker import``.  It has
``python3`` but no ``python`` command and no pip: the Dockerfiles must cope with that.
Like Debian's slim images, it leaves out documentation, manual pages and translations.

Whatever the image needs to reach the package registries is read from THIS machine at
run time and copied in: apt's sources (``/etc/apt/sources.list``,
``/etc/apt/sources.list.d/*.sources``) and the keyrings they name, the files in
``/etc/apt/apt.conf.d/`` that configure how apt reaches them, the CA bundle, ``/etc/pip.conf``
and pip's environment (``PIP_CERT`` and friends, proxies).  No host name is written here.

THIS IMAGE IS FOR TESTS ONLY AND MUST NEVER BE PUSHED ANYWHERE: it carries this
machine's CA bundle and package settings.

The image is tagged by a hash of all its inputs; a cached one is reused as is.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from harness.dockerd import DockerError, PrivateDockerd, cache_dir, progress

__all__ = ["BASE_REPOSITORY", "BaseInputs", "ensure_base", "read_inputs"]

SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
#: Bump when the way the base is made changes (its inputs are hashed as well).
RECIPE = "2"
#: Never pushed: a local name with no registry part.
BASE_REPOSITORY = "spectare-test-only/debian-python"

CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PIP_CONF = Path("/etc/pip.conf")
APT_DIR = Path("/etc/apt")
#: pip's and the proxies' settings that the image build needs to reach the registries.
ENV_NAMES = (
    "PIP_CERT", "PIP_CLIENT_CERT", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST",
    "PIP_DEFAULT_TIMEOUT", "PIP_RETRIES", "PIP_PROXY", "PIP_DISABLE_PIP_VERSION_CHECK",
    "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE",
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
)  # fmt: skip


class BaseInputs:
    """What the base is made from, read from this machine: files to copy, env, mirror."""

    def __init__(self, files: dict[str, bytes], env: dict[str, str], mirror: str) -> None:
        self.files = files  # absolute path in the image -> content
        self.env = env
        self.mirror = mirror

    def digest(self) -> str:
        """A hash of every input: a change of any of them makes a new base."""
        h = hashlib.sha256(f"{RECIPE}\n{SUITE}\n{' '.join(PACKAGES)}\n{self.mirror}\n".encode())
        for path in sorted(self.files):
            h.update(path.encode() + b"\0" + hashlib.sha256(self.files[path]).digest())
        h.update(json.dumps(self.env, sort_keys=True).encode())
        return h.hexdigest()


def _sources_files() -> list[Path]:
    found = [APT_DIR / "sources.list"] if (APT_DIR / "sources.list").is_file() else []
    found += sorted((APT_DIR / "sources.list.d").glob("*.sources"))
    found += sorted((APT_DIR / "sources.list.d").glob("*.list"))
    return found


def _mirror(sources: list[Path]) -> str:
    """The URI that serves ``SUITE`` in this machine's apt sources (deb822 or one-line)."""
    for path in sources:
        text = path.read_text()
        if path.suffix == ".sources":
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(
                    (m.group(1).lower(), m.group(2).strip())
                    for m in re.finditer(r"^([A-Za-z-]+):[ \t]*(.*)$", stanza, re.M)
                )
                if fields.get("enabled", "yes") == "no":
                    continue
                if (
                    "deb" in fields.get("types", "").split()
                    and SUITE in fields.get("suites", "").split()
                ):
                    return fields["uris"].split()[0]
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", "", line.split("#")[0]).split()
                if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                    return words[1]
    raise DockerError(f"no apt source for {SUITE} on this machine ({[str(p) for p in sources]})")


def _keyrings(sources: list[Path]) -> list[Path]:
    names = set()
    for path in sources:
        names.update(re.findall(r"(?i)signed-by[:=][ \t]*([^\s\]]+)", path.read_text()))
    return sorted(Path(n) for n in names if n.startswith("/") and Path(n).is_file())


def read_inputs() -> BaseInputs:
    """Read this machine's package settings: what the test base must carry."""
    sources = _sources_files()
    files: dict[str, bytes] = {}
    for path in [*sources, *_keyrings(sources)]:
        files[str(path)] = path.read_bytes()
    for conf in sorted((APT_DIR / "apt.conf.d").glob("*")):
        text = conf.read_text(errors="replace") if conf.is_file() else ""
        if re.search(r"(?im)^\s*Acquire\s*(::|\{)", text):  # how apt reaches its mirrors
            files[str(conf)] = conf.read_bytes()
    env = {name: os.environ[name] for name in ENV_NAMES if os.environ.get(name)}
    named = {CA_BUNDLE, PIP_CONF}
    if PIP_CONF.is_file():
        keys = r"(?m)^\s*(?:cert|client-cert)\s*=\s*(\S+)"
        named.update(Path(v) for v in re.findall(keys, PIP_CONF.read_text()))
    named.update(Path(v) for v in env.values() if v.startswith("/"))
    for path in sorted(named):
        if path.is_file():
            files[str(path)] = path.read_bytes()
    return BaseInputs(files, env, _mirror(sources))


def _debootstrap(rootfs: Path, mirror: str, log: Path) -> None:
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not os.access(debootstrap, os.X_OK):
        raise DockerError("debootstrap not found: run scripts/setup --test")
    argv = [
        debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}",
        SUITE, str(rootfs), mirror,
    ]  # fmt: skip
    with open(log, "ab") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=1800)
    if done.returncode != 0:
        tail = log.read_bytes()[-4000:].decode("utf-8", "replace")
        raise DockerError(f"debootstrap failed ({done.returncode}); {log}:\n{tail}")


def _mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root`` (debootstrap mounts /proc, /sys, maybe /dev)."""
    prefix = str(root.resolve())
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return points


def _remove_rootfs(rootfs: Path) -> None:
    """Unmount what an interrupted debootstrap left mounted, then delete the folder."""
    if not rootfs.exists():
        return
    for point in sorted(_mounts_under(rootfs), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    if _mounts_under(rootfs):  # never delete through a bind mount of the host's /dev
        raise DockerError(f"{rootfs} still has mounts: {_mounts_under(rootfs)}")
    shutil.rmtree(rootfs, ignore_errors=True)


#: What Debian's own slim images (debian:bookworm-slim, under python:*-slim) leave out:
#: the same dpkg filter, so that sizes measured on this base compare with those.
SLIM_FILTER = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
"""


def _remove(item: Path) -> None:
    if item.is_dir() and not item.is_symlink():
        shutil.rmtree(item)
    else:
        item.unlink()


def _slim(rootfs: Path) -> None:
    """Install the slim dpkg filter and remove what it would have kept out."""
    (rootfs / "etc/dpkg/dpkg.cfg.d/spectare-test-slim").write_text(SLIM_FILTER)
    for folder in ("groff", "info", "linda", "lintian/overrides", "locale", "man"):
        for item in (rootfs / "usr/share" / folder).glob("*"):
            _remove(item)
    for doc in (rootfs / "usr/share/doc").glob("*"):
        if doc.is_dir() and not doc.is_symlink():
            for item in doc.iterdir():
                if item.name != "copyright":
                    _remove(item)


def _configure(rootfs: Path, inputs: BaseInputs) -> None:
    """Copy the machine's settings in; slim it; drop caches and debootstrap's sources."""
    _slim(rootfs)
    (rootfs / "etc/apt/sources.list").unlink(missing_ok=True)
    for path, content in inputs.files.items():
        target = rootfs / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)  # a symlink in the rootfs must not redirect the write
        target.write_bytes(content)
    for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (rootfs / leftover).glob("*"):
            if item.is_file():
                item.unlink()
    shutil.rmtree(rootfs / "debootstrap", ignore_errors=True)


def _changes(inputs: BaseInputs) -> list[str]:
    env = {"LANG": "C.UTF-8", **inputs.env}
    changes = [f"ENV {k}={json.dumps(v)}" for k, v in sorted(env.items())]
    return [*changes, 'CMD ["python3"]', "LABEL io.spectare.test-only=true"]


def ensure_base(engine: PrivateDockerd) -> str:
    """The tag of the test base for this machine's inputs; made (about 5 min) if missing."""
    inputs = read_inputs()
    tag = f"{BASE_REPOSITORY}:{inputs.digest()[:16]}"
    if engine.image_inspect(tag) is not None:
        progress(f"base {tag} cached")
        return tag
    work = cache_dir() / "base"
    work.mkdir(parents=True, exist_ok=True)
    rootfs = work / f"rootfs-{inputs.digest()[:16]}"
    _remove_rootfs(rootfs)  # a half-made one from an interrupted run
    log = work / "debootstrap.log"
    log.write_bytes(b"")
    started = time.monotonic()
    progress(f"making base {tag}: debootstrap {SUITE} with {', '.join(PACKAGES)} (log {log})")
    try:
        _debootstrap(rootfs, inputs.mirror, log)
        _configure(rootfs, inputs)
        progress("importing the base into the private engine")
        tar = subprocess.Popen(
            ["tar", "--numeric-owner", "--xattrs", "-C", str(rootfs), "-cf", "-", "."],
            stdout=subprocess.PIPE,
        )
        assert tar.stdout is not None
        try:
            args = ["import"]
            for change in _changes(inputs):
                args += ["--change", change]
            engine.run([*args, "-", tag], stdin=tar.stdout, timeout=900)
        finally:
            tar.stdout.close()
            if tar.wait() != 0:
                raise DockerError(f"tar of {rootfs} failed ({tar.returncode})")
    finally:
        _remove_rootfs(rootfs)
    progress(f"base {tag} made in {time.monotonic() - started:.0f}s")
    # Earlier bases (other inputs) only take space now; images built on them go later.
    listed = engine.run(["images", "--format", "{{.Repository}}:{{.Tag}}", BASE_REPOSITORY])
    for old in set(listed.stdout.split()) - {tag}:
        engine.run(["rmi", old], check=False)
    return tag
