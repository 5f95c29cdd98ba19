"""The Camera as a worker reads it, without pydantic: phases, transport, byte quantities
and a read-only view of the spec JSON its supervisor hands over.

The pydantic model (``spectare.model``) validates manifests and writes the JSON
(``CameraSpec.model_dump_json(by_alias=True)``); a worker only reads it back, so it
need not pay for the model in memory. ``tests/unit/test_camera_view.py`` keeps the view's
fields and defaults those of the model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

_UNITS = {
    "": 1,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
}


def parse_quantity(value: int | str) -> int:
    """Bytes of a Kubernetes quantity such as ``100Gi`` or ``500M``."""
    if isinstance(value, int):
        return value
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)([A-Za-z]*)", value.strip())
    if not match or match.group(2) not in _UNITS:
        raise ValueError(f"not a byte quantity: {value!r} (use e.g. 500Mi, 100Gi, 2T)")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


class Transport(StrEnum):
    """How RTSP carries the media."""

    TCP = "tcp"
    UDP = "udp"


class Phase(StrEnum):
    """Where a camera stands; written by the operator or the local pool."""

    PENDING = "Pending"
    QUEUED = "Queued"
    STARTING = "Starting"
    RECORDING = "Recording"
    RECONNECTING = "Reconnecting"
    FAILED = "Failed"
    DISABLED = "Disabled"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _read(data: dict[str, Any], name: str, default: Any) -> Any:
    """``data``'s value of a field, by its camelCase key as the model writes it."""
    return data.get(_camel(name), data.get(name, default))


@dataclass(frozen=True)
class RetentionView:
    """``Retention`` as the worker reads it."""

    days: int | None = None
    max_bytes: int | str | None = None

    @property
    def max_bytes_int(self) -> int | None:
        """``max_bytes`` in bytes."""
        return None if self.max_bytes is None else parse_quantity(self.max_bytes)

    @classmethod
    def of(cls, data: dict[str, Any]) -> RetentionView:
        """The view of the JSON object ``data``; absent keys take the model's defaults."""
        days = _read(data, "days", None)
        return cls(None if days is None else int(days), _read(data, "max_bytes", None))


@dataclass(frozen=True)
class MotionView:
    """``Motion`` as the worker reads it."""

    enabled: bool = True
    threshold: float = 0.02

    @classmethod
    def of(cls, data: dict[str, Any]) -> MotionView:
        """The view of the JSON object ``data``; absent keys take the model's defaults."""
        return cls(
            bool(_read(data, "enabled", cls.enabled)),
            float(_read(data, "threshold", cls.threshold)),
        )


@dataclass(frozen=True)
class CameraSpecView:
    """``CameraSpec`` as the worker reads it: only what recording uses."""

    url: str
    transport: Transport = Transport.TCP
    segment_seconds: int = 300
    retention: RetentionView = field(default_factory=RetentionView)
    motion: MotionView = field(default_factory=MotionView)

    @classmethod
    def from_json(cls, text: str) -> CameraSpecView:
        """The view of a spec's JSON (camelCase keys; absent ones take the defaults).

        The JSON was validated by the model that wrote it; this only checks its shape.
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"not JSON: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("url"), str):
            raise ValueError("not a Camera spec: a JSON object with a url is needed")
        try:
            return cls(
                url=data["url"],
                transport=Transport(_read(data, "transport", cls.transport)),
                segment_seconds=int(_read(data, "segment_seconds", cls.segment_seconds)),
                retention=RetentionView.of(_read(data, "retention", None) or {}),
                motion=MotionView.of(_read(data, "motion", None) or {}),
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a Camera spec: {exc}") from None

    from_setting = from_json
