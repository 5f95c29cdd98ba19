"""A test kubelet: runs the pods of one namespace as local processes.

``TestKubelet`` registers a Node, watches the pods of one namespace that match
a label selector, binds each new pod to its node and runs the pod's first
container ``command`` + ``args`` as a local process (executable looked up on
PATH), with the pod's environment resolved the way the kubelet does it:
plain values, Secret and ConfigMap keys, ``envFrom`` and the usual fieldRefs
(``status.podIP`` is 127.0.0.1), on top of the test process's own environment.
Volumes, images, probes, resources and every container but the first are
ignored; tests point mounts at local temp dirs.  Only ``restartPolicy: Never``
is supported: a process that exits leaves its pod Succeeded or Failed.

Pod status is written through the ``pods/status`` subresource.  Deleting a pod
sends SIGTERM to its process group, SIGKILL after the grace period, and then
finishes the deletion, as a kubelet does (see controlplane's docstring: the
API server alone only marks bound pods as deleted).

``run_processes=False`` only binds pods and marks them Running, for scale tests.
Every process the kubelet starts, it stops: on pod deletion, or in ``stop()``.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.controlplane import ControlPlane
from harness.kubeclient import ApiError, KubeHTTP
from harness.procs import pdeathsig_prefix, stop_process, wait_until

log = logging.getLogger("spectare.harness.kubelet")

POD_IP = "127.0.0.1"
DEFAULT_GRACE_SECONDS = 30
# How long stop() gives each process after SIGTERM before SIGKILL.
STOP_GRACE_SECONDS = 5.0
# A pod whose config cannot be resolved yet (missing Secret) is retried this often.
CONFIG_RETRY_SECONDS = 1.0
WATCH_TIMEOUT_SECONDS = 60

Pod = dict[str, Any]


class PodConfigError(Exception):
    """The container's environment cannot be built (kubelet's CreateContainerConfigError)."""


class PodStartError(Exception):
    """The container cannot start at all (no command, executable missing): the pod fails."""


@dataclasses.dataclass
class PodRun:
    """What the kubelet knows about one pod (one uid)."""

    namespace: str
    name: str
    uid: str
    log_path: Path
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    process: subprocess.Popen[bytes] | None = None
    started_at: str | None = None
    exit_code: int | None = None
    # Terminal states: once set, nothing is started for this uid any more.
    deleting: bool = False
    gone: bool = False

    @property
    def pid(self) -> int | None:
        """The pid of the pod's process while it runs."""
        if self.process is not None and self.process.poll() is None:
            return self.process.pid
        return None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known names are replaced, ``$$`` is ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _VAR_REF.sub(replace, value)


class TestKubelet:
    """Plays the kubelet for the pods of ``namespace`` matching ``label_selector``.

    Use as a context manager or call start() and stop().
    """

    __test__ = False  # not a pytest test class despite its name

    def __init__(
        self,
        api: ControlPlane | KubeHTTP,
        namespace: str,
        label_selector: str = "",
        node_name: str = "test-node",
        run_processes: bool = True,
        log_dir: Path | None = None,
        workers: int = 8,
    ) -> None:
        # Plain HTTP with raw dicts: the pods are handled as the API sends them.
        self.api = api.http() if isinstance(api, ControlPlane) else api
        self.namespace = namespace
        self.label_selector = label_selector
        self.node_name = node_name
        self.run_processes = run_processes
        self._own_log_dir = log_dir is None  # a directory it made, it removes in stop()
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix=f"spectare-kubelet-{namespace}-"))
        self._workers = workers
        self._pods: dict[str, PodRun] = {}
        self._pods_lock = threading.Lock()
        self._stopping = threading.Event()
        self._watch_response: Any = None
        self._watch_thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._threads: list[threading.Thread] = []  # waiters, deleters

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> TestKubelet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> TestKubelet:
        """Register the node and start watching pods."""
        self.register_node()
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="kubelet-pod")
        # The first list happens here, so pods that already exist are handled
        # and an API failure shows up before start() returns.
        try:
            resource_version = self._relist()
        except BaseException:
            self.stop()
            raise
        self._watch_thread = threading.Thread(
            target=self._watch_loop,
            args=(resource_version,),
            name=f"kubelet-watch-{self.namespace}",
            daemon=True,
        )
        self._watch_thread.start()
        log.info(
            "kubelet started namespace=%s selector=%r node=%s run_processes=%s",
            self.namespace,
            self.label_selector,
            self.node_name,
            self.run_processes,
        )
        return self

    def stop(self) -> None:
        """Stop watching and terminate every process this kubelet started."""
        self._stopping.set()
        response = self._watch_response
        if response is not None:
            with contextlib.suppress(Exception):
                response.shutdown()  # unblocks the watch thread's read
        if self._watch_thread:
            self._watch_thread.join(timeout=10)
        # Processes first: their parent-death signal fires when the pool thread
        # that started them exits, which would SIGKILL them without a SIGTERM.
        self._stop_processes()
        if self._pool:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._stop_processes()  # any a handler started while we were stopping
        for thread in list(self._threads):
            thread.join(timeout=10)
        if self._own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)
        log.info("kubelet stopped namespace=%s", self.namespace)

    def _stop_processes(self) -> None:
        """SIGTERM every running process at once, SIGKILL what is left after the grace."""
        with self._pods_lock:
            procs = [
                (r, r.process)
                for r in self._pods.values()
                if r.process is not None and r.process.poll() is None
            ]
        for _, proc in procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for run, proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.0, deadline - time.monotonic()))
            code = stop_process(proc, timeout=0.0, group=True)
            log.info(
                "stopped pod process pod=%s/%s pid=%d exit=%s",
                run.namespace,
                run.name,
                proc.pid,
                code,
            )

    # -- helpers for tests ------------------------------------------------

    def pod_run(self, name: str) -> PodRun | None:
        """The newest run of the pod called ``name`` (a recreated pod has a new run)."""
        with self._pods_lock:
            runs = [r for r in self._pods.values() if r.name == name]
        return runs[-1] if runs else None

    def pid(self, name: str) -> int | None:
        """The pid of pod ``name``'s process while it runs, else None."""
        run = self.pod_run(name)
        return run.pid if run else None

    def wait_for_pid(self, name: str, timeout: float = 30.0) -> int:
        """Wait until pod ``name`` has a running process; return its pid."""
        return int(wait_until(lambda: self.pid(name), timeout, f"a process for pod {name}"))

    def signal_pod(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the process of pod ``name`` (e.g. SIGKILL or SIGSTOP)."""
        pid = self.pid(name)
        if pid is None:
            raise LookupError(f"pod {name} has no running process")
        os.kill(pid, sig)

    def log_path(self, name: str) -> Path:
        """The stdout+stderr log file of pod ``name``."""
        run = self.pod_run(name)
        if run is None:
            raise LookupError(f"pod {name} has not been seen by this kubelet")
        return run.log_path

    def read_log(self, name: str) -> str:
        """The output of pod ``name``'s process so far."""
        path = self.log_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    # -- node --------------------------------------------------------------

    def register_node(self) -> None:
        """Create the Node if missing and mark it Ready (several kubelets may share it)."""
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "labels": {"kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux"},
            },
        }
        try:
            self.api.request("POST", "/api/v1/nodes", node)
        except ApiError as exc:
            if exc.status != 409:
                raise
        status = {
            "status": {
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "test kubelet",
                        "lastHeartbeatTime": _now(),
                        "lastTransitionTime": _now(),
                    }
                ],
                "addresses": [
                    {"type": "InternalIP", "address": POD_IP},
                    {"type": "Hostname", "address": self.node_name},
                ],
                "capacity": {"cpu": "2", "memory": "24Gi", "pods": "2000"},
                "allocatable": {"cpu": "2", "memory": "24Gi", "pods": "2000"},
            }
        }
        self.api.request(
            "PATCH",
            f"/api/v1/nodes/{self.node_name}/status",
            status,
            content_type=KubeHTTP.STRATEGIC_PATCH,
        )

    # -- watching ----------------------------------------------------------

    def _relist(self) -> str:
        """List the pods, handle each, forget vanished ones; return the list's resourceVersion."""
        listing = self.api.request(
            "GET", self._pods_path, query={"labelSelector": self.label_selector}
        )
        seen = set()
        for pod in listing["items"]:
            seen.add(pod["metadata"]["uid"])
            self._dispatch("ADDED", pod)
        with self._pods_lock:
            vanished = [r for uid, r in self._pods.items() if uid not in seen and not r.gone]
        for run in vanished:  # deleted while no watch was open
            self._submit(self._handle_gone, run)
        return str(listing["metadata"]["resourceVersion"])

    def _watch_loop(self, resource_version: str) -> None:
        while not self._stopping.is_set():
            try:
                resource_version = self._watch_once(resource_version)
            except _Expired:
                resource_version = self._relist_quietly(resource_version)
            except Exception as exc:
                if self._stopping.is_set():
                    return
                log.warning(
                    "pod watch failed, relisting namespace=%s error=%r", self.namespace, exc
                )
                self._stopping.wait(0.5)
                resource_version = self._relist_quietly(resource_version)

    def _relist_quietly(self, resource_version: str) -> str:
        try:
            return self._relist()
        except Exception as exc:
            log.warning("relist failed namespace=%s error=%r", self.namespace, exc)
            return resource_version

    def _watch_once(self, resource_version: str) -> str:
        """One watch request; return the last resourceVersion seen."""
        response = self.api.stream(
            self._pods_path,
            {
                "labelSelector": self.label_selector,
                "watch": "true",
                "resourceVersion": resource_version,
                "allowWatchBookmarks": "true",
                "timeoutSeconds": WATCH_TIMEOUT_SECONDS,
            },
            timeout=WATCH_TIMEOUT_SECONDS + 30,
        )
        self._watch_response = response
        try:
            if self._stopping.is_set():
                return resource_version
            for event in _events(response):
                kind, obj = event["type"], event["object"]
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _Expired()
                    raise RuntimeError(f"watch error: {obj}")
                resource_version = obj["metadata"]["resourceVersion"]
                if kind != "BOOKMARK":
                    self._dispatch(kind, obj)
        finally:
            self._watch_response = None
            response.release_conn()
        return resource_version

    def _dispatch(self, kind: str, pod: Pod) -> None:
        if self._stopping.is_set():
            return
        if pod["spec"].get("nodeName") not in (None, "", self.node_name):
            return  # another node's pod: not ours to run or to delete
        run = self._run_for(pod)
        if kind == "DELETED":
            self._submit(self._handle_gone, run)
        elif pod["metadata"].get("deletionTimestamp"):
            self._submit(self._handle_deletion, run, pod)
        else:
            self._submit(self._handle_pod, run, pod)

    def _submit(self, fn: Callable[..., None], run: PodRun, *args: Any) -> None:
        assert self._pool is not None

        def guarded() -> None:
            try:
                with run.lock:  # one handler per pod at a time; each is idempotent
                    fn(run, *args)
            except Exception:
                log.exception(
                    "pod handler failed pod=%s/%s handler=%s", run.namespace, run.name, fn.__name__
                )

        with contextlib.suppress(RuntimeError):  # pool already shut down by stop()
            self._pool.submit(guarded)

    def _run_for(self, pod: Pod) -> PodRun:
        meta = pod["metadata"]
        with self._pods_lock:
            run = self._pods.get(meta["uid"])
            if run is None:
                run = PodRun(
                    meta["namespace"],
                    meta["name"],
                    meta["uid"],
                    self.log_dir / f"{meta['name']}-{meta['uid'][:8]}.log",
                )
                self._pods[meta["uid"]] = run
            return run

    @property
    def _pods_path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods"

    @staticmethod
    def _pod_path(run: PodRun) -> str:
        return f"/api/v1/namespaces/{run.namespace}/pods/{run.name}"

    # -- pod lifecycle -----------------------------------------------------

    def _handle_pod(self, run: PodRun, pod: Pod) -> None:
        """Bind and start a new pod; later events for a started pod need nothing."""
        if run.deleting or run.gone or run.started_at or run.exit_code is not None:
            return
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return  # ran to completion under an earlier kubelet: restartPolicy Never
        if not pod["spec"].get("nodeName") and not self._bind(run):
            return
        if not self.run_processes:
            run.started_at = _now()
            self._patch_status(run, self._running_status(pod, run))
            return
        self._start_process(run, pod)

    def _bind(self, run: PodRun) -> bool:
        """Bind the pod to our node; False if it is gone. (Bound pods delete gracefully.)"""
        binding = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": run.name, "uid": run.uid},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
        }
        try:
            self.api.request("POST", f"{self._pod_path(run)}/binding", binding)
        except ApiError as exc:
            log.info("pod not bound pod=%s/%s status=%d", run.namespace, run.name, exc.status)
            if exc.status == 404:
                run.gone = True
                return False
            if exc.status == 409:  # already bound: by an earlier try of ours, or elsewhere
                return self._bound_here(run)
            raise
        return True

    def _bound_here(self, run: PodRun) -> bool:
        """After a 409 on binding: is the pod already ours (an earlier bind went through)?"""
        with contextlib.suppress(ApiError):
            pod = self.api.request("GET", self._pod_path(run))
            return bool(
                pod["metadata"]["uid"] == run.uid and pod["spec"].get("nodeName") == self.node_name
            )
        return False

    def _start_process(self, run: PodRun, pod: Pod) -> None:
        if self._stopping.is_set():
            return
        container = pod["spec"]["containers"][0]
        try:
            env = self._container_env(pod, container)
            argv = self._argv(container, env)
        except PodConfigError as exc:  # may resolve later, e.g. once the Secret exists
            self._config_error(run, pod, exc)
            return
        except PodStartError as exc:
            self._config_error(run, pod, exc, retry=False)
            return
        cwd = container.get("workingDir")
        if cwd and not os.path.isdir(cwd):
            log.warning(
                "workingDir does not exist here, using the log dir pod=%s/%s dir=%s",
                run.namespace,
                run.name,
                cwd,
            )
            cwd = None
        with open(run.log_path, "ab") as output:
            try:
                # A session of its own, so that SIGTERM/SIGKILL reach the whole
                # process group as they would reach every process of a container.
                run.process = subprocess.Popen(
                    pdeathsig_prefix() + argv,
                    env=env,
                    cwd=cwd or self.log_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                error = PodStartError(f"cannot start {argv[0]}: {exc}")
                self._config_error(run, pod, error, retry=False)
                return
        run.started_at = _now()
        log.info(
            "started pod process pod=%s/%s pid=%d argv=%s log=%s",
            run.namespace,
            run.name,
            run.process.pid,
            argv,
            run.log_path,
        )
        self._patch_status(run, self._running_status(pod, run))
        self._background(self._wait_process, run, pod)

    def _argv(self, container: dict[str, Any], env: Mapping[str, str]) -> list[str]:
        command = [expand(c, env) for c in container.get("command") or []]
        args = [expand(a, env) for a in container.get("args") or []]
        if not command:
            raise PodStartError("the test kubelet needs an explicit command (it runs no images)")
        executable = shutil.which(command[0], path=env.get("PATH"))
        if executable is None:
            raise PodStartError(f"executable {command[0]!r} not found on PATH")
        return [executable, *command[1:], *args]

    def _config_error(self, run: PodRun, pod: Pod, exc: Exception, retry: bool = True) -> None:
        """Report the pod as the kubelet does (Pending, waiting) and retry later."""
        log.warning("cannot start pod=%s/%s error=%s", run.namespace, run.name, exc)
        container = pod["spec"]["containers"][0]
        reason = "CreateContainerConfigError" if retry else "StartError"
        status = {
            "phase": "Pending" if retry else "Failed",
            "hostIP": POD_IP,
            "podIP": POD_IP,
            "podIPs": [{"ip": POD_IP}],
            "containerStatuses": [
                {
                    "name": container["name"],
                    "image": container.get("image", ""),
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "started": False,
                    "state": (
                        {"waiting": {"reason": reason, "message": str(exc)}}
                        if retry
                        else {
                            "terminated": {
                                "exitCode": 128,
                                "reason": reason,
                                "message": str(exc),
                                "finishedAt": _now(),
                            }
                        }
                    ),
                }
            ],
        }
        self._patch_status(run, status)
        if retry and not self._stopping.is_set():
            timer = threading.Timer(CONFIG_RETRY_SECONDS, self._retry, args=(run,))
            timer.daemon = True
            timer.start()
        elif not retry:
            run.exit_code = 128

    def _retry(self, run: PodRun) -> None:
        if self._stopping.is_set() or run.deleting or run.gone:
            return
        with contextlib.suppress(ApiError):
            pod = self.api.request("GET", self._pod_path(run))
            if pod["metadata"]["uid"] == run.uid:
                self._dispatch("MODIFIED", pod)

    def _wait_process(self, run: PodRun, pod: Pod) -> None:
        """Report the exit of a pod's process (restartPolicy Never: the pod is done)."""
        assert run.process is not None
        code = run.process.wait()
        # The container is over: reap what its processes left in the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(run.process.pid, signal.SIGKILL)
        with run.lock:
            run.exit_code = code
            log.info(
                "pod process exited pod=%s/%s pid=%d exit=%d",
                run.namespace,
                run.name,
                run.process.pid,
                code,
            )
            if not (run.deleting or run.gone or self._stopping.is_set()):
                self._patch_status(run, self._terminated_status(pod, run))

    def _handle_deletion(self, run: PodRun, pod: Pod) -> None:
        """Graceful deletion, in a thread of its own so a long grace period blocks no handler."""
        if run.gone or run.deleting:
            return
        run.deleting = True
        grace = pod["metadata"].get("deletionGracePeriodSeconds")
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS)
        self._background(self._delete, run, pod, float(grace))

    def _delete(self, run: PodRun, pod: Pod, grace: float) -> None:
        """SIGTERM, SIGKILL after the grace period, report the end, then finish the deletion."""
        was_running = run.process is not None and run.exit_code is None
        self._terminate(run, grace)
        with run.lock:
            if was_running and not run.gone:  # like the kubelet, report how it ended
                self._patch_status(run, self._terminated_status(pod, run))
        self._finish_deletion(run)

    def _handle_gone(self, run: PodRun) -> None:
        """The pod object is gone (force-deleted or never bound): stop its process."""
        if run.gone:
            return
        run.gone = run.deleting = True
        if run.process is not None:
            self._background(self._terminate, run, STOP_GRACE_SECONDS)

    def _background(self, fn: Callable[..., None], run: PodRun, *args: Any) -> None:
        """Run ``fn(run, *args)`` in a thread that stop() joins."""

        def guarded() -> None:
            try:
                fn(run, *args)
            except Exception:
                log.exception(
                    "pod task failed pod=%s/%s task=%s", run.namespace, run.name, fn.__name__
                )

        thread = threading.Thread(
            target=guarded, name=f"kubelet-{fn.__name__}-{run.name}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _terminate(self, run: PodRun, grace: float) -> None:
        if run.process is None:
            return
        code = stop_process(run.process, timeout=grace, group=True)
        run.exit_code = code
        log.info(
            "terminated pod process pod=%s/%s pid=%d exit=%d grace=%.0f",
            run.namespace,
            run.name,
            run.process.pid,
            code,
            grace,
        )

    def _finish_deletion(self, run: PodRun) -> None:
        """Delete with grace 0, only this uid (a pod recreated under the name is not ours)."""
        try:
            self.api.request(
                "DELETE",
                self._pod_path(run),
                {
                    "apiVersion": "v1",
                    "kind": "DeleteOptions",
                    "gracePeriodSeconds": 0,
                    "preconditions": {"uid": run.uid},
                },
            )
        except ApiError as exc:
            if exc.status not in (404, 409):
                raise
        run.gone = True

    # -- status ------------------------------------------------------------

    def _patch_status(self, run: PodRun, status: dict[str, Any]) -> None:
        """Write pod status via pods/status; a pod that is gone is not an error."""
        body = {"metadata": {"uid": run.uid}, "status": status}
        try:
            self.api.request(
                "PATCH",
                f"{self._pod_path(run)}/status",
                body,
                content_type=KubeHTTP.STRATEGIC_PATCH,
            )
        except ApiError as exc:
            if exc.status not in (404, 409, 422):
                raise
            log.info(
                "pod status not written pod=%s/%s status=%d", run.namespace, run.name, exc.status
            )

    def _running_status(self, pod: Pod, run: PodRun) -> dict[str, Any]:
        container = pod["spec"]["containers"][0]
        state = {"running": {"startedAt": run.started_at}}
        return self._status(
            pod,
            run,
            "Running",
            True,
            [self._container_status(container, state, ready=True, pid=run.pid)],
        )

    def _terminated_status(self, pod: Pod, run: PodRun) -> dict[str, Any]:
        code = run.exit_code if run.exit_code is not None else 137
        terminated: dict[str, Any] = {
            # A process killed by a signal reports 128+signal, like a container runtime.
            "exitCode": 128 - code if code < 0 else code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": run.started_at,
            "finishedAt": _now(),
        }
        if code < 0:
            terminated["signal"] = -code
        container = pod["spec"]["containers"][0]
        return self._status(
            pod,
            run,
            "Succeeded" if code == 0 else "Failed",
            False,
            [self._container_status(container, {"terminated": terminated}, ready=False, pid=None)],
        )

    @staticmethod
    def _container_status(
        container: dict[str, Any], state: dict[str, Any], ready: bool, pid: int | None
    ) -> dict[str, Any]:
        status = {
            "name": container["name"],
            "image": container.get("image", ""),
            "imageID": "",
            "ready": ready,
            "started": ready,
            "restartCount": 0,
            "state": state,
        }
        if pid is not None:
            status["containerID"] = f"test://{pid}"
        return status

    def _status(
        self,
        pod: Pod,
        run: PodRun,
        phase: str,
        ready: bool,
        container_statuses: list[dict[str, Any]],
    ) -> dict[str, Any]:
        now = _now()
        flag = "True" if ready else "False"
        conditions = [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
            {"type": "Ready", "status": flag, "lastTransitionTime": now},
        ]
        return {
            "phase": phase,
            "hostIP": POD_IP,
            "hostIPs": [{"ip": POD_IP}],
            "podIP": POD_IP,
            "podIPs": [{"ip": POD_IP}],
            "startTime": pod["status"].get("startTime") or run.started_at or now,
            "conditions": conditions,
            "containerStatuses": container_statuses,
        }

    # -- environment -------------------------------------------------------

    def _container_env(self, pod: Pod, container: dict[str, Any]) -> dict[str, str]:
        """The test's own environment, then envFrom, then env, as the kubelet orders them."""
        env = dict(os.environ)
        pod_env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            pod_env.update(self._env_from(pod, source))
        for var in container.get("env") or []:
            if "valueFrom" in var:
                value = self._value_from(pod, var["valueFrom"])
                if value is None:
                    continue  # optional and missing: the variable is not set
            else:
                value = expand(var.get("value", ""), pod_env)
            pod_env[var["name"]] = value
        env.update(pod_env)
        return env

    def _env_from(self, pod: Pod, source: dict[str, Any]) -> dict[str, str]:
        prefix = source.get("prefix", "")
        if "secretRef" in source:
            ref, data = source["secretRef"], self._secret_data(pod, source["secretRef"]["name"])
        elif "configMapRef" in source:
            ref, data = (
                source["configMapRef"],
                self._configmap_data(pod, source["configMapRef"]["name"]),
            )
        else:
            raise PodConfigError(f"unsupported envFrom source {source}")
        if data is None:
            if ref.get("optional"):
                return {}
            raise PodConfigError(f"{ref['name']} not found")
        return {prefix + key: value for key, value in data.items()}

    def _value_from(self, pod: Pod, source: dict[str, Any]) -> str | None:
        if "fieldRef" in source:
            return self._field(pod, source["fieldRef"]["fieldPath"])
        for kind, reader in (
            ("secretKeyRef", self._secret_data),
            ("configMapKeyRef", self._configmap_data),
        ):
            if kind in source:
                ref = source[kind]
                data = reader(pod, ref["name"])
                if data is not None and ref["key"] in data:
                    return str(data[ref["key"]])
                if ref.get("optional"):
                    return None
                raise PodConfigError(f"{kind} {ref['name']}/{ref['key']} not found")
        raise PodConfigError(f"unsupported valueFrom {source}")

    def _field(self, pod: Pod, path: str) -> str:
        meta = pod["metadata"]
        simple = {
            "metadata.name": meta["name"],
            "metadata.namespace": meta["namespace"],
            "metadata.uid": meta["uid"],
            "spec.nodeName": self.node_name,
            "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
            "status.podIP": POD_IP,
            "status.hostIP": POD_IP,
            "status.podIPs": POD_IP,
        }
        if path in simple:
            return str(simple[path])
        match = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
        if match:
            return str((meta.get(match.group(1)) or {}).get(match.group(2), ""))
        raise PodConfigError(f"unsupported fieldRef {path}")

    def _secret_data(self, pod: Pod, name: str) -> dict[str, str] | None:
        secret = self._read("secrets", pod["metadata"]["namespace"], name)
        if secret is None:
            return None
        return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}

    def _configmap_data(self, pod: Pod, name: str) -> dict[str, str] | None:
        config_map = self._read("configmaps", pod["metadata"]["namespace"], name)
        return None if config_map is None else dict(config_map.get("data") or {})

    def _read(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        """Read a Secret or ConfigMap with the kubelet's (admin) client; None if missing."""
        try:
            path = f"/api/v1/namespaces/{namespace}/{resource}/{name}"
            return dict(self.api.request("GET", path))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise


class _Expired(Exception):
    """The watch's resourceVersion is too old (410 Gone): relist."""


def _events(response: Any) -> Any:
    """Yield decoded watch events from a streaming response, one JSON object per line."""
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=True):
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if line.strip():
                yield json.loads(line)
