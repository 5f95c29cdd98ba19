"""kubectl against a test control plane, as its admin: the one way tests run it.

``kubectl(plane, "apply", "-f", "-", stdin=text)`` returns the completed
process; with ``check`` (the default) a failure raises AssertionError quoting
kubectl's error output, so a test that fails there says why.
"""

from __future__ import annotations

import subprocess

from harness.controlplane import ControlPlane

KUBECTL = "/usr/bin/kubectl"


def kubectl(
    plane: ControlPlane,
    *args: str,
    stdin: str | None = None,
    check: bool = True,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """Run kubectl with the plane's admin kubeconfig; the completed process."""
    proc = subprocess.run(
        [KUBECTL, "--kubeconfig", str(plane.admin_kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
    return proc
