"""Prometheus text exposition of the stats document (format 0.0.4)."""

from __future__ import annotations

from collections.abc import Iterable

from spectare.api.stats import Stats
from spectare.model import Phase

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Sample = tuple[dict[str, str], float | int | None]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return repr(float(value)) if isinstance(value, float) else str(value)


def _family(name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        if value is None:
            continue  # unknown (never happened): no sample rather than a made-up one
        label_text = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
        lines.append(
            f"{name}{{{label_text}}} {_number(value)}" if label_text else f"{name} {_number(value)}"
        )
    return lines


def render(stats: Stats | None) -> str:
    """The metrics page; ``stats`` None when the store does not answer."""
    lines = _family(
        "spectare_store_up",
        "gauge",
        "1 if the footage store answered this scrape.",
        [({}, 0 if stats is None else 1)],
    )
    if stats is None:
        return "\n".join(lines) + "\n"
    totals = stats.cameras
    lines += _family(
        "spectare_cameras",
        "gauge",
        "Cameras by state (orphaned is a subset of grabbed).",
        [
            ({"state": state}, getattr(totals, state))
            for state in ("total", "recording", "grabbed", "orphaned", "disabled", "queued")
        ],
    )
    lines += _family(
        "spectare_cameras_by_phase",
        "gauge",
        "Cameras in each phase.",
        [({"phase": phase}, count) for phase, count in totals.phases.items()],
    )
    lines += _family(
        "spectare_workers", "gauge", "Distinct workers holding cameras.", [({}, stats.workers)]
    )
    lines += _family(
        "spectare_footage_segments",
        "gauge",
        "Segments on record, all cameras.",
        [({}, stats.footage.count)],
    )
    lines += _family(
        "spectare_footage_bytes",
        "gauge",
        "Bytes on record, all cameras.",
        [({}, stats.footage.bytes)],
    )
    lines += _family(
        "spectare_footage_recorded_seconds",
        "gauge",
        "Seconds of footage on record, all cameras.",
        [({}, stats.footage.seconds)],
    )
    lines += _family(
        "spectare_footage_oldest_timestamp_seconds",
        "gauge",
        "Start of the oldest segment on record.",
        [({}, stats.footage.oldest)],
    )
    lines += _family(
        "spectare_footage_newest_timestamp_seconds",
        "gauge",
        "End of the newest segment on record.",
        [({}, stats.footage.newest)],
    )

    cams = stats.per_camera

    def per_camera(
        name: str, kind: str, help_text: str, values: Iterable[float | int | None]
    ) -> None:
        lines.extend(
            _family(
                name,
                kind,
                help_text,
                [({"camera": c.id}, v) for c, v in zip(cams, values, strict=True)],
            )
        )

    per_camera(
        "spectare_camera_segments",
        "gauge",
        "Segments on record per camera.",
        (c.footage.count for c in cams),
    )
    per_camera(
        "spectare_camera_bytes",
        "gauge",
        "Bytes on record per camera.",
        (c.footage.bytes for c in cams),
    )
    per_camera(
        "spectare_camera_recorded_seconds",
        "gauge",
        "Seconds on record per camera.",
        (c.footage.seconds for c in cams),
    )
    per_camera(
        "spectare_camera_last_segment_timestamp_seconds",
        "gauge",
        "When the camera's newest segment was indexed.",
        (c.last_segment_at for c in cams),
    )
    per_camera(
        "spectare_camera_seconds_since_last_segment",
        "gauge",
        "Seconds since the camera's newest segment was indexed.",
        (c.seconds_since_last_segment for c in cams),
    )
    per_camera(
        "spectare_camera_heartbeat_age_seconds",
        "gauge",
        "Seconds since the camera's worker last proved alive.",
        (c.heartbeat_age for c in cams),
    )
    per_camera(
        "spectare_camera_reconnects_total",
        "counter",
        "Times the camera's stream dropped and was reconnected.",
        (c.reconnects for c in cams),
    )
    per_camera(
        "spectare_camera_restarts_total",
        "counter",
        "Times the camera's worker was restarted.",
        (c.restarts for c in cams),
    )
    per_camera(
        "spectare_camera_enabled",
        "gauge",
        "1 if the camera is enabled.",
        (int(c.enabled) for c in cams),
    )
    per_camera(
        "spectare_camera_grabbed",
        "gauge",
        "1 if a worker holds the camera.",
        (int(c.grabbed) for c in cams),
    )
    per_camera(
        "spectare_camera_orphaned",
        "gauge",
        "1 if held with a stale heartbeat.",
        (int(c.orphaned) for c in cams),
    )
    per_camera(
        "spectare_camera_recording",
        "gauge",
        "1 if the camera is recording.",
        (int(c.recording) for c in cams),
    )
    phases = [p.value for p in Phase]
    lines += _family(
        "spectare_camera_phase",
        "gauge",
        "1 for the camera's current phase, 0 for the others.",
        [
            ({"camera": c.id, "phase": p}, int(c.phase == p))
            for c in cams
            for p in ([*phases, c.phase] if c.phase not in phases else phases)
        ],
    )
    return "\n".join(lines) + "\n"
