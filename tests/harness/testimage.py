"""The node's pause image and the tests' tiny server image, made without any registry.

One static C binary, ``/spectare-probe``, compiled with ``gcc -static`` and
packaged as a ``docker save``-style archive (manifest.json, a config, one
layer) written by Python, which ``ctr images import`` accepts.  Its modes:

* no arguments: pause until SIGTERM/SIGINT (containerd's sandbox image),
  reaping children like a pause container must;
* ``serve PORT``: answer every TCP connection with ``spectare-probe <hostname>``;
* ``cat FILE``: print the file, then pause (so its logs can be read);
* ``http HOST PORT PATH``: send a plain HTTP GET, print the answer, then pause.

The image is tagged ``localhost/spectare/probe:<digest>``: a name whose
registry, should anything ever try to pull it, is this machine's loopback.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

from harness.procs import progress

IMAGE_REPOSITORY = "localhost/spectare/probe"
BINARY = "spectare-probe"

SOURCE = r"""
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }

static void copy(int from) {
    char buf[4096];
    ssize_t n;
    while ((n = read(from, buf, sizeof buf)) > 0) write(1, buf, (size_t)n);
    write(1, "\n", 1);
}

static int serve(int port) {
    int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    char host[256] = "", line[300];
    gethostname(host, sizeof host - 1);
    snprintf(line, sizeof line, "spectare-probe %s\n", host);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 64)) { perror("listen"); return 1; }
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue;
        write(c, line, strlen(line));
        close(c);
    }
}

static void http(const char *host, int port, const char *path) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    char req[512];
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(s, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return; }
    snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host);
    write(s, req, strlen(req));
    copy(s);
    close(s);
}

int main(int argc, char **argv) {
    signal(SIGTERM, stop);
    signal(SIGINT, stop);
    signal(SIGCHLD, reap);
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 3 && !strcmp(argv[1], "serve")) return serve(atoi(argv[2]));
    if (argc == 3 && !strcmp(argv[1], "cat")) {
        int f = open(argv[2], O_RDONLY);
        if (f < 0) perror(argv[2]); else copy(f);
    }
    if (argc == 5 && !strcmp(argv[1], "http")) http(argv[2], atoi(argv[3]), argv[4]);
    for (;;) pause();
}
"""


def _compile(output: Path) -> None:
    """Compile SOURCE into a static binary at ``output``."""
    source = output.with_suffix(".c")
    source.write_text(SOURCE)
    cmd = ["gcc", "-static", "-Os", "-s", "-o", str(output), str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed:\n{proc.stderr}")


def _layer(binary: Path) -> bytes:
    """An uncompressed layer tar holding ``/<BINARY>``, reproducible (fixed times, owners)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(BINARY)
        data = binary.read_bytes()
        info.size, info.mode, info.mtime = len(data), 0o755, 0
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_archive(binary: Path, archive: Path, repository: str = IMAGE_REPOSITORY) -> str:
    """Write a ``docker save``-style archive of a one-layer image; return its reference."""
    layer = _layer(binary)
    diff_id = hashlib.sha256(layer).hexdigest()
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Entrypoint": [f"/{BINARY}"], "WorkingDir": "/"},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{diff_id}"]},
            "history": [{"created_by": "harness.testimage", "comment": "static C binary"}],
        },
        sort_keys=True,
    ).encode()
    config_id = hashlib.sha256(config).hexdigest()
    reference = f"{repository}:{config_id[:12]}"
    manifest = json.dumps(
        [{"Config": f"{config_id}.json", "RepoTags": [reference], "Layers": [f"{diff_id}.tar"]}]
    ).encode()
    with tarfile.open(archive, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in (
            (f"{diff_id}.tar", layer),
            (f"{config_id}.json", config),
            ("manifest.json", manifest),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return reference


def build_probe_image(directory: Path) -> tuple[Path, str]:
    """Compile the probe and write its image archive into ``directory``; return (tar, ref)."""
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=directory) as scratch:
        binary = Path(scratch) / BINARY
        _compile(binary)
        archive = directory / "probe-image.tar"
        reference = write_archive(binary, archive)
    progress("node", f"built image {reference} archive={archive}")
    return archive, reference
