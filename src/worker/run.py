"""A worker's life: grab, recover, record with reconnects, heartbeat, stop cleanly."""

from __future__ import annotations

import dataclasses
import queue
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from spectare import exits
from spectare.camera import CameraSpecView, Phase
from spectare.layout import incoming_dir
from spectare.live.feed import LiveInput
from spectare.logs import get_logger
from spectare.redact import register_secret, with_credentials
from spectare.settings import Settings
from spectare.store import Store, StoreError
from spectare.worker.backoff import HEALTHY_RUN_SECONDS, next_delay
from spectare.worker.ffmpeg import (
    Cause,
    RecordJob,
    classify_exit,
    record_command,
)
from spectare.worker.keyframes import SegmentMotion, sample_seconds
from spectare.worker.probe import MediaInfo
from spectare.worker.recorder import Closed, Recorder
from spectare.worker.recovery import recover
from spectare.worker.relay import start_relay
from spectare.worker.retention import apply_retention
from spectare.worker.segments import Indexer, Tools
from spectare.worker.storage import StorageError, check_footage_root

log = get_logger(__name__)

#: How long a stopping worker keeps retrying an unreachable store before leaving the
#: rest to the next run's recovery.
STOP_INDEX_PATIENCE = 20.0


@dataclass(frozen=True)
class Finished:
    """A segment file to finish: its wall-clock span (start unknown for a killed run's
    file), and what is already known of it."""

    path: Path
    start: float | None
    end: float
    known: MediaInfo | None = None
    motion: float | None = None


@dataclass
class State:
    """Phase and message, shared between the recording loop and the heartbeat."""

    phase: Phase = Phase.STARTING
    message: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set(self, phase: Phase, message: str | None = None) -> None:
        """Move to ``phase``, logging real transitions."""
        with self.lock:
            changed = (phase, message) != (self.phase, self.message)
            self.phase, self.message = phase, message
        if changed:
            log.info("camera.phase", phase=phase.value, message=message)

    def get(self) -> tuple[Phase, str | None]:
        """(phase, message) now."""
        with self.lock:
            return self.phase, self.message


class Worker:
    """Records one camera until told to stop."""

    def __init__(self, settings: Settings, camera: str, spec: CameraSpecView, store: Store) -> None:
        self.settings = settings
        self.camera = camera
        self.spec = spec
        self.store = store
        self.root = settings.footage_dir.resolve()
        self.state = State()
        self.stopping = threading.Event()
        self.lost = threading.Event()
        self.run_id = uuid.uuid4().hex[:12]
        self.indexer = Indexer(
            store, self.root, camera, spec, Tools(settings.ffmpeg, settings.ffprobe)
        )
        self._finished: queue.Queue[Finished | None] = queue.Queue()
        self._motion = SegmentMotion(settings.ffmpeg, sample_seconds(spec.segment_seconds))
        self._recorder: Recorder | None = None
        self._segments_this_run = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self) -> int:
        """The whole life of the worker; its exit code."""
        try:
            check_footage_root(self.root, self.settings.footage_must_be_mount)
        except StorageError as exc:
            log.error("worker.bad_storage", camera=self.camera, error=str(exc))
            return exits.BAD_CONFIG
        if not self.store.grab(
            self.camera, self.settings.worker_id, time.time(), self.settings.stale_seconds
        ):
            holder = self.store.get_camera(self.camera)
            log.error(
                "worker.camera_held",
                camera=self.camera,
                holder=holder.worker if holder else None,
                hint="another live worker records this camera; this one exits",
            )
            return exits.CAMERA_HELD
        log.info("worker.grabbed", camera=self.camera, worker=self.settings.worker_id)
        self._install_signals()
        beat = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        beat.start()
        indexing = threading.Thread(target=self._index_loop, name="indexer", daemon=True)
        job = self._job()
        relay = start_relay(self.root, self.camera, LiveInput(job.url, self.spec.transport.value),
                            self.settings)  # fmt: skip
        try:
            incoming_dir(self.root, self.camera).mkdir(parents=True, exist_ok=True)
            recovered = recover(self.root, self.indexer, keep_run=self.run_id)
            log.info("worker.recovered", camera=self.camera, segments=recovered)
            indexing.start()
            self._record_loop()
        finally:
            if relay is not None:
                relay.stop()
            self._finished.put(None)
            if indexing.is_alive():
                indexing.join()
            self.stopping.set()
            beat.join(timeout=self.settings.heartbeat_seconds + 5)
            if not self.lost.is_set():
                self._release()
        return exits.LOST_CAMERA if self.lost.is_set() else exits.OK

    def stop(self) -> None:
        """Finish the current segment, index it, release the camera."""
        self.stopping.set()
        if self._recorder is not None:
            self._recorder.stop()

    def _install_signals(self) -> None:
        def handle(signum: int, frame: FrameType | None) -> None:
            log.info("worker.stopping", camera=self.camera, signal=signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def _release(self) -> None:
        try:
            self.store.heartbeat(
                self.camera, self.settings.worker_id, time.time(), Phase.PENDING.value, "stopped"
            )
            self.store.release(self.camera, self.settings.worker_id)
            log.info("worker.released", camera=self.camera)
        except StoreError as exc:
            log.warning("worker.release_failed", camera=self.camera, error=str(exc))

    # -- recording ---------------------------------------------------------------------------

    def _job(self) -> RecordJob:
        username = self.settings.camera_username
        password = self.settings.camera_password
        secret = password.get_secret_value() if password else None
        register_secret(secret)
        url = with_credentials(
            self.spec.url, username.get_secret_value() if username else None, secret
        )
        register_secret(url)
        return RecordJob(
            url=url,
            spec=self.spec,
            container=self.settings.container,
            incoming=incoming_dir(self.root, self.camera),
            run_id=self.run_id,
            rw_timeout_seconds=self.settings.rw_timeout_seconds,
            ffmpeg=self.settings.ffmpeg,
        )

    def _record_loop(self) -> None:
        job = self._job()
        failures = 0
        attempt = 0
        while not self.stopping.is_set():
            self._segments_this_run = 0
            started = time.monotonic()
            attempt += 1
            # Each ffmpeg of this worker names its files apart: one that was killed leaves
            # its partial segment for this worker to index, never for the next to overwrite.
            run = dataclasses.replace(job, run_id=f"{self.run_id}-{attempt}")
            recorder = Recorder(
                record_command(run),
                run.incoming,
                self._on_segment,
                self._on_started,
                prefix=f"{run.run_id}-",
                stall_seconds=self.settings.stall_seconds,
            )
            self._recorder = recorder
            recorder.start()
            if self.stopping.is_set():  # a stop that came before there was an ffmpeg to stop
                recorder.stop()
            code = recorder.wait()
            self._recorder = None
            self._finish_unreported(recorder)
            cause = (
                Cause.STALLED
                if recorder.stalled
                else classify_exit(list(recorder.tail), self.stopping.is_set())
            )
            log.info("ffmpeg.exited", camera=self.camera, code=code, cause=cause.value)
            if cause is Cause.STOPPED:
                break
            healthy = (
                self._segments_this_run > 0 or time.monotonic() - started >= HEALTHY_RUN_SECONDS
            )
            # A run that recorded reconnects at once: backoff is for runs that never get
            # going (a wrong URL, a camera that is down), not for one killed mid-recording.
            failures = 0 if healthy else failures + 1
            delay = next_delay(cause, failures)
            phase = Phase.FAILED if cause is Cause.AUTH else Phase.RECONNECTING
            self.state.set(phase, f"{cause.value}; retrying in {delay:g} s")
            self._count_reconnect()
            self.stopping.wait(delay)

    def _finish_unreported(self, recorder: Recorder) -> None:
        """Queue what an ended ffmpeg wrote but never reported closed (it was killed)."""
        for path in sorted(recorder.incoming.glob(f"{recorder.prefix}*")):
            if path.name not in recorder.reported and path.stat().st_size > 0:
                log.info("segment.unreported", camera=self.camera, file=path.name)
                self._finished.put(Finished(path, None, path.stat().st_mtime))

    def _on_started(self) -> None:
        self.state.set(Phase.RECORDING)

    def _on_segment(self, closed: Closed) -> None:
        self._segments_this_run += 1
        known = None
        if closed.video is not None and closed.end > closed.start:
            # ffmpeg closed it itself: its span and the run's stream need no ffprobe.
            known = MediaInfo(closed.end - closed.start, *closed.video)
        self._finished.put(Finished(closed.path, closed.start, closed.end, known))

    def _count_reconnect(self) -> None:
        try:
            self.store.bump(self.camera, "reconnects")
        except StoreError as exc:
            log.warning("store.unreachable", camera=self.camera, error=str(exc))

    # -- indexing and heartbeats --------------------------------------------------------------

    def _index_loop(self) -> None:
        while True:
            item = self._finished.get()
            if item is None:
                return
            self._finish_with_retries(self._scored(item))
            self._apply_retention()

    def _scored(self, item: Finished) -> Finished:
        """``item`` with its motion score, for a segment ffmpeg closed (a killed run's
        leftover goes unscored: it may end anywhere)."""
        known = item.known
        if not self.spec.motion.enabled or not known or not known.codec or item.start is None:
            return item
        score = self._motion.score(item.path, known.codec, item.start, item.end)
        return dataclasses.replace(item, motion=score)

    def _finish_with_retries(self, item: Finished) -> None:
        delay, deadline, path = 1.0, None, item.path
        while True:
            try:
                if path.exists():
                    self.indexer.finish(path, item.start, item.end, item.known, item.motion)
                else:  # placed in the tree before the store failed: it is on the pending list
                    self.indexer.index_pending()
                return
            except StoreError as exc:
                # The file is safe in the tree (or still incoming): keep trying, and leave it
                # to the next run's recovery if the store stays away while we stop.
                log.warning("store.unreachable", camera=self.camera, error=str(exc))
                if self.stopping.is_set():
                    deadline = deadline or time.monotonic() + STOP_INDEX_PATIENCE
                    if time.monotonic() > deadline:
                        return
                time.sleep(delay)
                delay = min(delay * 2, 10.0)
            except OSError as exc:
                log.error("segment.failed", camera=self.camera, file=path.name, error=str(exc))
                return

    def _apply_retention(self) -> None:
        try:
            apply_retention(self.store, self.root, self.camera, self.spec.retention, time.time())
        except (StoreError, OSError) as exc:
            log.warning("retention.failed", camera=self.camera, error=str(exc))

    def _heartbeat_loop(self) -> None:
        while not self.stopping.wait(self.settings.heartbeat_seconds):
            phase, message = self.state.get()
            try:
                held = self.store.heartbeat(
                    self.camera, self.settings.worker_id, time.time(), phase.value, message
                )
            except StoreError as exc:
                log.warning("store.unreachable", camera=self.camera, error=str(exc))
                continue
            if not held:
                log.error(
                    "worker.lost_camera",
                    camera=self.camera,
                    hint="the camera was released or taken by another worker; stopping",
                )
                self.lost.set()
                self.stop()
                return
