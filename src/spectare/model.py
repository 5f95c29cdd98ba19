"""The Camera resource: one model for validation, defaults and the CRD schema."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

# Re-exported: they live in a pydantic-free module, for the worker.
from spectare.camera import Phase as Phase
from spectare.camera import Transport as Transport
from spectare.camera import parse_quantity as parse_quantity

GROUP = "spectare.io"
VERSION = "v1alpha1"
KIND = "Camera"
PLURAL = "cameras"
API_VERSION = f"{GROUP}/{VERSION}"

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
RTSP_URL = r"^rtsps?://[^\s/?#]+(/\S*)?$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P|k)?$"


class _Spec(BaseModel):
    """Shared config: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


class Retention(_Spec):
    """How long footage is kept; the first limit reached wins."""

    days: Annotated[int | None, Field(ge=1, le=36500)] = Field(
        default=None, description="Delete segments older than this many days."
    )
    max_bytes: int | str | None = Field(
        default=None,
        description="Keep at most this much footage of the camera (bytes or a quantity: 100Gi).",
        json_schema_extra={"x-kubernetes-int-or-string": True, "pattern": QUANTITY},
    )

    @field_validator("max_bytes")
    @classmethod
    def _quantity(cls, value: int | str | None) -> int | str | None:
        if value is not None and parse_quantity(value) <= 0:
            raise ValueError("maxBytes must be positive")
        return value

    @property
    def max_bytes_int(self) -> int | None:
        """``max_bytes`` in bytes."""
        return None if self.max_bytes is None else parse_quantity(self.max_bytes)


class Motion(_Spec):
    """Motion scoring of finished segments (keyframes only, never a full decode)."""

    enabled: bool = Field(default=True, description="Score motion per segment and record events.")
    threshold: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="Share of changed pixels between keyframes that makes a motion event.",
    )


class CameraSpec(_Spec):
    """What to record and how."""

    url: str = Field(
        pattern=RTSP_URL,
        max_length=2048,
        description="RTSP URL of the main stream, recorded as is (rtsp:// or rtsps://).",
    )
    substream_url: str | None = Field(
        default=None,
        pattern=RTSP_URL,
        max_length=2048,
        description="Optional low-resolution stream of the same camera (not used yet).",
    )
    credentials_secret: str | None = Field(
        default=None,
        pattern=DNS_LABEL,
        description="Secret in the camera's namespace with keys username and password.",
    )
    display_name: str | None = Field(
        default=None, max_length=200, description="Name shown to people."
    )
    enabled: bool = Field(default=True, description="false keeps the camera but runs no worker.")
    transport: Transport = Field(default=Transport.TCP, description="RTSP transport: tcp or udp.")
    segment_seconds: int = Field(
        default=300, ge=2, le=3600, description="Length of one recorded segment in seconds."
    )
    retention: Retention = Field(
        default_factory=Retention, description="How long footage is kept (days, maxBytes)."
    )
    snapshot_seconds: int = Field(
        default=10,
        ge=0,
        le=3600,
        description="No longer used, accepted so that older manifests still apply: the API "
        "makes the latest picture on demand from the newest keyframe.",
    )
    motion: Motion = Field(default_factory=Motion, description="Motion scoring per segment.")


class Metadata(BaseModel):
    """The part of Kubernetes metadata we read; the rest is ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(pattern=DNS_LABEL, description="The camera's id: a lower-case DNS label.")
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class Condition(_Spec):
    """A Kubernetes-style condition."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str | None = None
    message: str | None = None
    last_transition_time: str | None = None


class CameraStatus(_Spec):
    """Observed state, written by the operator only."""

    phase: Phase | None = Field(default=None, description="Pending, Queued, Starting, ...")
    worker_pod: str | None = Field(default=None, description="Pod recording this camera.")
    last_heartbeat: str | None = Field(default=None, description="Worker's last heartbeat.")
    last_segment_at: str | None = Field(default=None, description="End of the newest segment.")
    restarts: int = Field(default=0, ge=0, description="Worker pods replaced so far.")
    message: str | None = Field(default=None, description="Why the camera is in this phase.")
    observed_generation: int | None = Field(default=None, description="Spec generation seen.")
    conditions: list[Condition] = Field(default_factory=list, description="Recording, Ready.")


class Camera(BaseModel):
    """A ``Camera`` manifest."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    api_version: Literal["spectare.io/v1alpha1"] = Field(
        default="spectare.io/v1alpha1", alias="apiVersion"
    )
    kind: Literal["Camera"] = "Camera"
    metadata: Metadata
    spec: CameraSpec
    status: CameraStatus | None = None

    @property
    def name(self) -> str:
        """The camera's id."""
        return self.metadata.name

    @property
    def display_name(self) -> str:
        """Name shown to people."""
        return self.spec.display_name or self.metadata.name


def camera_from_dict(data: dict[str, Any]) -> Camera:
    """Validate a manifest (dict) as a Camera."""
    return Camera.model_validate(data)
