"""The ffmpeg processes the API runs for live views and exports: stopped the same way."""

from __future__ import annotations

import subprocess

#: How long ffmpeg gets to end after SIGTERM before it is killed.
STOP_SECONDS = 2.0


def stop_process(process: subprocess.Popen[bytes], grace: float = STOP_SECONDS) -> int:
    """Terminate ``process``, kill it if it lingers and reap it; its code.

    The pipes stay open: the threads reading them see the end and close them.
    """
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
