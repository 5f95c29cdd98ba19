"""All settings, read from the environment (``SPECTARE_*``) in this one place."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from spectare.camera import CameraSpecView
from spectare.envsettings import SettingsError, load, setting
from spectare.secret import Secret

__all__ = ["PREFIX", "Container", "Settings", "SettingsError", "load_settings"]

Container = Literal["mp4", "ts", "mkv"]
PREFIX = "SPECTARE_"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Settings of every part; each field is ``SPECTARE_<NAME>`` in the environment."""

    # -- shared -----------------------------------------------------------------------------
    store: str = setting(
        "sqlite:///spectare.db",
        description="Footage store: sqlite:///path/spectare.db or rethinkdb://host:28015/db.",
    )
    store_deadline_seconds: float = setting(
        10.0,
        gt=0,
        description="Longest a call to a RethinkDB store may take, retries included; a "
        "server that stops answering costs each call at most this, then it fails.",
    )
    footage_dir: Path = setting(Path("footage"), description="Root of the footage tree.")
    footage_must_be_mount: bool = setting(
        False,
        description="Refuse to record unless footage_dir is a mount point (NFS), so that an "
        "unmounted share never fills the node's own disk.",
    )
    log_level: str = setting("info", description="debug, info, warning or error.")
    log_format: Literal["text", "json"] = setting("text", description="text or json.")
    heartbeat_seconds: float = setting(
        5.0, gt=0, description="How often a worker proves it is alive."
    )
    stale_seconds: float = setting(
        30.0, gt=0, description="A heartbeat older than this frees the camera."
    )

    # -- worker -----------------------------------------------------------------------------
    worker_id: str = setting(
        factory=socket.gethostname,
        description="Who holds the camera; the pod name on Kubernetes.",
    )
    camera_spec: CameraSpecView | None = setting(
        None, description="The Camera's spec as JSON, handed over by the pool/operator."
    )
    camera_username: Secret | None = setting(None, description="RTSP user name.")
    camera_password: Secret | None = setting(None, description="RTSP password.")
    container: Container = setting(
        "mp4",
        description="Segment container: mp4 (fragmented, survives a kill, plays in browsers), "
        "ts or mkv.",
    )
    ffmpeg: str = setting("ffmpeg", description="ffmpeg executable.")
    ffprobe: str = setting("ffprobe", description="ffprobe executable.")
    rw_timeout_seconds: float = setting(
        10.0, gt=0, description="A camera silent this long counts as dropped."
    )
    live_relay_host: str = setting(
        "127.0.0.1",
        description="Address the worker's live relay listens on, for the API to watch the "
        "camera through it (the worker image says 0.0.0.0); empty: no relay.",
    )
    stall_seconds: float = setting(
        15.0,
        gt=0,
        description="A camera that keeps its session open but sends no video this long is "
        "reconnected (phase Reconnecting, message 'camera sends no video').",
    )

    # -- api ----------------------------------------------------------------------------------
    api_token: Secret | None = setting(
        None, description="Bearer token the API requires for writes (and reads, if set)."
    )
    api_read_auth: bool = setting(False, description="Require the token for reads too.")
    api_host: str = setting("127.0.0.1", description="Address the API listens on.")
    api_port: int = setting(8080, ge=0, le=65535, description="Port the API listens on.")
    api_cors_origins: list[str] = setting(
        factory=list,
        description="Origins allowed to call the API from a browser (CORS), comma-separated; "
        "none by default.",
    )
    api_export_max_seconds: float = setting(
        6 * 3600.0,
        gt=0,
        description="Longest time range one export may cover; longer ones are refused (422).",
    )

    # -- pool (local and Kubernetes) ------------------------------------------------------------
    max_workers: int | None = setting(
        None, ge=1, description="Most workers at once; cameras beyond wait as Queued."
    )
    restart_backoff_max_seconds: float = setting(
        60.0, gt=0, description="Longest wait before a dead worker is started again."
    )


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (e.g. command-line flags).

    Raises ``SettingsError`` naming each bad variable (``SPECTARE_STALL_SECONDS: must be
    > 0, got '-1'``).
    """
    return load(Settings, os.environ, PREFIX, overrides)
