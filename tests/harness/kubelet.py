"""A test kubelet: runs the pods of one namespace as local processes.

``TestKubelet`` registers a Node, watches the pods of one namespace that match
a label selector (``harness.podwatch``), binds each new pod to its node and runs
the pod's first container ``command`` + ``args`` as a local process
(``harness.podrun``; executable looked up on PATH), with the pod's environment
resolved the way the kubelet does it (``harness.podenv``): plain values, Secret
and ConfigMap keys, ``envFrom`` and the usual fieldRefs (``status.podIP`` is
127.0.0.1), on top of the test process's own environment. Volumes, images,
probes, resources and every container but the first are ignored; tests point
mounts at local temp dirs.  Only ``restartPolicy: Never`` is supported: a
process that exits leaves its pod Succeeded or Failed.

Pod status (``harness.podstatus``) is written through the ``pods/status``
subresource.  Deleting a pod sends SIGTERM to its process group, SIGKILL after
the grace period, and then finishes the deletion, as a kubelet does (see
controlplane's docstring: the API server alone only marks bound pods as deleted).

``run_processes=False`` only binds pods and marks them Running, for scale tests.
Every process the kubelet starts, it stops: on pod deletion, or in ``stop()``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness import podapi, podrun, podstatus
from harness.controlplane import ControlPlane
from harness.kubeclient import KubeHTTP
from harness.podenv import PodConfigError, container_env
from harness.podrun import PodRun, PodStartError
from harness.podwatch import PodWatch
from harness.procs import wait_until

log = logging.getLogger("spectare.harness.kubelet")

DEFAULT_GRACE_SECONDS = 30
# How long stop() gives each process after SIGTERM before SIGKILL.
STOP_GRACE_SECONDS = 5.0
# A pod whose config cannot be resolved yet (missing Secret) is retried this often.
CONFIG_RETRY_SECONDS = 1.0

Pod = dict[str, Any]


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
        self._watch = PodWatch(self.api, namespace, label_selector, self._listed, self._dispatch)
        self._stopping = self._watch.stopping
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
        podapi.register_node(self.api, self.node_name)
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="kubelet-pod")
        # The first list happens here, so pods that already exist are handled
        # and an API failure shows up before start() returns.
        try:
            resource_version = self._watch.relist()
        except BaseException:
            self.stop()
            raise
        self._watch_thread = threading.Thread(
            target=self._watch.run,
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
        self._watch.stop()
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
        with self._pods_lock:
            runs = list(self._pods.values())
        podrun.stop_all(runs, STOP_GRACE_SECONDS)

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

    # -- events ------------------------------------------------------------

    def _listed(self, pods: list[Pod]) -> None:
        """Handle each listed pod; forget the runs of pods deleted while no watch was open."""
        seen = set()
        for pod in pods:
            seen.add(pod["metadata"]["uid"])
            self._dispatch("ADDED", pod)
        with self._pods_lock:
            vanished = [r for uid, r in self._pods.items() if uid not in seen and not r.gone]
        for run in vanished:
            self._submit(self._handle_gone, run)

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

    # -- pod lifecycle -----------------------------------------------------

    def _handle_pod(self, run: PodRun, pod: Pod) -> None:
        """Bind and start a new pod; later events for a started pod need nothing."""
        if run.deleting or run.gone or run.started_at or run.exit_code is not None:
            return
        if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return  # ran to completion under an earlier kubelet: restartPolicy Never
        if not pod["spec"].get("nodeName") and not podapi.bind(self.api, run, self.node_name):
            return
        if not self.run_processes:
            run.started_at = podstatus.now()
            self._patch_running(run, pod)
            return
        self._start_process(run, pod)

    def _start_process(self, run: PodRun, pod: Pod) -> None:
        if self._stopping.is_set():
            return
        container = pod["spec"]["containers"][0]
        try:
            sources = podapi.read_sources(self.api, pod["metadata"]["namespace"], container)
            env = container_env(pod, container, sources, os.environ, self.node_name)
            command = podrun.argv(container, env)
            cwd = container.get("workingDir")
            if cwd and not os.path.isdir(cwd):
                log.warning(
                    "workingDir does not exist here, using the log dir pod=%s/%s dir=%s",
                    run.namespace,
                    run.name,
                    cwd,
                )
                cwd = None
            podrun.spawn(run, command, env, Path(cwd or self.log_dir))
        except PodConfigError as exc:  # may resolve later, e.g. once the Secret exists
            self._not_started(run, pod, exc, retry=True)
            return
        except PodStartError as exc:
            self._not_started(run, pod, exc, retry=False)
            return
        run.started_at = podstatus.now()
        self._patch_running(run, pod)
        self._background(self._wait_process, run, pod)

    def _not_started(self, run: PodRun, pod: Pod, exc: Exception, retry: bool) -> None:
        """Report the pod as the kubelet does (Pending and retried later, or Failed)."""
        log.warning("cannot start pod=%s/%s error=%s", run.namespace, run.name, exc)
        podapi.patch_status(self.api, run, podstatus.not_started_status(pod, str(exc), retry))
        if retry and not self._stopping.is_set():
            timer = threading.Timer(CONFIG_RETRY_SECONDS, self._retry, args=(run,))
            timer.daemon = True
            timer.start()
        elif not retry:
            run.exit_code = 128

    def _retry(self, run: PodRun) -> None:
        if self._stopping.is_set() or run.deleting or run.gone:
            return
        pod = podapi.current_pod(self.api, run)
        if pod is not None:
            self._dispatch("MODIFIED", pod)

    def _wait_process(self, run: PodRun, pod: Pod) -> None:
        """Report the exit of a pod's process (restartPolicy Never: the pod is done)."""
        assert run.process is not None
        code = run.process.wait()
        podrun.reap_group(run)  # the container is over: so is what it left in its group
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
                self._patch_terminated(run, pod)

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
        podrun.terminate(run, grace)
        with run.lock:
            if was_running and not run.gone:  # like the kubelet, report how it ended
                self._patch_terminated(run, pod)
        podapi.finish_deletion(self.api, run)

    def _handle_gone(self, run: PodRun) -> None:
        """The pod object is gone (force-deleted or never bound): stop its process."""
        if run.gone:
            return
        run.gone = run.deleting = True
        if run.process is not None:
            self._background(podrun.terminate, run, STOP_GRACE_SECONDS)

    # -- status ------------------------------------------------------------

    def _patch_terminated(self, run: PodRun, pod: Pod) -> None:
        status = podstatus.terminated_status(pod, run.started_at, run.exit_code)
        podapi.patch_status(self.api, run, status)

    def _patch_running(self, run: PodRun, pod: Pod) -> None:
        status = podstatus.running_status(pod, run.started_at, run.pid)
        podapi.patch_status(self.api, run, status)
