"""The worker's pydantic-free view of a Camera spec reads what the model writes.

Covers: CameraSpecView.from_json gives back the values of several CameraSpec models
(serialised as the pool and the operator do), the model's defaults for absent keys,
every field of the view (and of its nested views) is a field of the model, a spec that
is no JSON object with a url is refused, and Phase, Transport and parse_quantity stay
importable from spectare.model.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from pydantic import BaseModel

from spectare import camera, model
from spectare.camera import CameraSpecView, MotionView, RetentionView
from spectare.model import CameraSpec, Motion, Retention

SPECS: list[dict[str, Any]] = [
    {"url": "rtsp://10.0.0.9/main"},
    {"url": "rtsps://cam:8322/s", "transport": "udp", "segmentSeconds": 60},
    {"url": "rtsp://cam/1", "retention": {"days": 7}, "motion": {"enabled": False}},
    {"url": "rtsp://cam/1", "retention": {"maxBytes": "100Gi"}, "motion": {"threshold": 0.5}},
    {"url": "rtsp://cam/1", "retention": {"days": 1, "maxBytes": 5000}, "displayName": "Gate",
     "snapshotSeconds": 0, "credentialsSecret": "gate-creds", "enabled": False},
]  # fmt: skip

PAIRS: list[tuple[type[Any], type[BaseModel]]] = [
    (CameraSpecView, CameraSpec),
    (RetentionView, Retention),
    (MotionView, Motion),
]


def read_back(spec: CameraSpec) -> CameraSpecView:
    return CameraSpecView.from_json(spec.model_dump_json(by_alias=True))


@pytest.mark.parametrize("data", SPECS)
def test_the_view_reads_back_what_the_model_wrote(data: dict[str, Any]) -> None:
    spec = CameraSpec.model_validate(data)
    view = read_back(spec)
    assert view.url == spec.url
    assert view.transport == spec.transport and view.transport.value == spec.transport.value
    assert view.segment_seconds == spec.segment_seconds
    assert view.retention.days == spec.retention.days
    assert view.retention.max_bytes == spec.retention.max_bytes
    assert view.retention.max_bytes_int == spec.retention.max_bytes_int
    assert view.motion.enabled == spec.motion.enabled
    assert view.motion.threshold == spec.motion.threshold


@pytest.mark.parametrize("data", SPECS)
def test_absent_keys_take_the_models_defaults(data: dict[str, Any]) -> None:
    """A spec written by hand (a test, an old pool) reads as the model would fill it."""
    from_model = read_back(CameraSpec.model_validate(data))
    assert CameraSpecView.from_json(json.dumps(data)) == from_model


@pytest.mark.parametrize(("view", "model_class"), PAIRS)
def test_every_field_of_the_view_is_a_field_of_the_model(
    view: type[Any], model_class: type[BaseModel]
) -> None:
    names = {field.name for field in dataclasses.fields(view)}
    assert names <= set(model_class.model_fields), names - set(model_class.model_fields)
    for field in dataclasses.fields(view):
        if field.default is not dataclasses.MISSING:
            assert model_class.model_fields[field.name].default == field.default, field.name


@pytest.mark.parametrize(
    "text", ["", "[1]", '{"transport": "tcp"}', '{"url": 5}', '{"url": "x", "transport": "sctp"}']
)
def test_what_is_no_spec_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        CameraSpecView.from_json(text)


def test_the_worker_types_stay_importable_from_the_model() -> None:
    assert model.Phase is camera.Phase
    assert model.Transport is camera.Transport
    assert model.parse_quantity("1Ki") == 1024
