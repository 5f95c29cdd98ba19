"""A real API server in a subprocess, started as ``spectare api`` starts it."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from harness.procs import wait_until

_CODE = """
from spectare.api import serve
from spectare.logs import setup_logging
from spectare.settings import load_settings

settings = load_settings()
setup_logging(settings.log_level, settings.log_format)
serve(settings)
"""


class ApiProcess:
    """``serve(load_settings())`` in a child process on 127.0.0.1 and a free port."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.log_path = workdir / "api.log"
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> ApiProcess:
        """Start the server and wait until /healthz answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SPECTARE_")}
        env.update(
            {
                "SPECTARE_API_HOST": "127.0.0.1",
                "SPECTARE_API_PORT": "0",
                "SPECTARE_LOG_LEVEL": "debug",
                **self.env,
            }
        )
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-P", "-c", _CODE],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        port = wait_until(self._listening_port, timeout, "the API to listen")
        self.url = f"http://127.0.0.1:{port}"
        wait_until(self._healthy, timeout, "/healthz")
        return self

    def _listening_port(self) -> int | None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"the API exited with {self.process.returncode}:\n{self.log()}")
        for line in self.log().splitlines():
            if "api.listening" in line and "url=" in line:
                return int(line.split("url=", 1)[1].split()[0].rsplit(":", 1)[1])
        return None

    def _healthy(self) -> bool | None:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                return True if response.status == 200 else None
        except (urllib.error.URLError, ConnectionError):
            return None

    def log(self) -> str:
        """Everything the server logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it lingers; the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)
        return self.process.returncode
