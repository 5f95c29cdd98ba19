"""All settings, read from the environment (``SPECTARE_*``) in this one place."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from spectare.model import CameraSpec

Container = Literal["mp4", "ts", "mkv"]


class Settings(BaseSettings):
    """Settings of every part; each field is ``SPECTARE_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="SPECTARE_", extra="ignore", frozen=True)

    # -- shared -----------------------------------------------------------------------------
    store: str = Field(
        default="sqlite:///spectare.db",
        description="Footage store: sqlite:///path/spectare.db or rethinkdb://host:28015/db.",
    )
    store_deadline_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Longest a call to a RethinkDB store may take, retries included; a "
        "server that stops answering costs each call at most this, then it fails.",
    )
    footage_dir: Path = Field(default=Path("footage"), description="Root of the footage tree.")
    footage_must_be_mount: bool = Field(
        default=False,
        description="Refuse to record unless footage_dir is a mount point (NFS), so that an "
        "unmounted share never fills the node's own disk.",
    )
    log_level: str = Field(default="info", description="debug, info, warning or error.")
    log_format: Literal["text", "json"] = Field(default="text", description="text or json.")
    heartbeat_seconds: float = Field(
        default=5.0, gt=0, description="How often a worker proves it is alive."
    )
    stale_seconds: float = Field(
        default=30.0, gt=0, description="A heartbeat older than this frees the camera."
    )

    # -- worker -----------------------------------------------------------------------------
    worker_id: str = Field(
        default_factory=socket.gethostname,
        description="Who holds the camera; the pod name on Kubernetes.",
    )
    camera_spec: CameraSpec | None = Field(
        default=None, description="The Camera's spec as JSON, handed over by the pool/operator."
    )
    camera_username: SecretStr | None = Field(default=None, description="RTSP user name.")
    camera_password: SecretStr | None = Field(default=None, description="RTSP password.")
    container: Container = Field(
        default="mp4",
        description="Segment container: mp4 (fragmented, survives a kill, plays in browsers), "
        "ts or mkv.",
    )
    ffmpeg: str = Field(default="ffmpeg", description="ffmpeg executable.")
    ffprobe: str = Field(default="ffprobe", description="ffprobe executable.")
    rw_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A camera silent this long counts as dropped."
    )
    live_relay_host: str = Field(
        default="127.0.0.1",
        description="Address the worker's live relay listens on, for the API to watch the "
        "camera through it (the worker image says 0.0.0.0); empty: no relay.",
    )
    stall_seconds: float = Field(
        default=15.0,
        gt=0,
        description="A camera that keeps its session open but sends no video this long is "
        "reconnected (phase Reconnecting, message 'camera sends no video').",
    )

    # -- api ----------------------------------------------------------------------------------
    api_token: SecretStr | None = Field(
        default=None, description="Bearer token the API requires for writes (and reads, if set)."
    )
    api_read_auth: bool = Field(default=False, description="Require the token for reads too.")
    api_host: str = Field(default="127.0.0.1", description="Address the API listens on.")
    api_port: int = Field(default=8080, ge=0, le=65535, description="Port the API listens on.")
    api_cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser (CORS); none by default.",
    )
    api_export_max_seconds: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="Longest time range one export may cover; longer ones are refused (422).",
    )

    # -- pool (local and Kubernetes) ------------------------------------------------------------
    max_workers: int | None = Field(
        default=None, ge=1, description="Most workers at once; cameras beyond wait as Queued."
    )
    restart_backoff_max_seconds: float = Field(
        default=60.0, gt=0, description="Longest wait before a dead worker is started again."
    )

    @field_validator("api_cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """``https://a,https://b`` in the environment, a list in code."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (e.g. command-line flags)."""
    return Settings(**overrides)  # type: ignore[arg-type]
