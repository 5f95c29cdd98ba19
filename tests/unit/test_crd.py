"""The CRD generated from the model: structural, complete, and identical to deploy/crd.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from spectare.crd import crd, crd_yaml, structural

ROOT = Path(__file__).resolve().parents[2]


def _walk(node: Any, path: str = "") -> Any:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def schema() -> dict[str, Any]:
    return dict(crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"])


def test_deploy_crd_is_the_generated_one() -> None:
    assert (ROOT / "deploy" / "crd.yaml").read_text() == crd_yaml(), (
        "deploy/crd.yaml drifted from the model: regenerate it with "
        "`spectare crd > deploy/crd.yaml`"
    )


def test_schema_is_structural() -> None:
    for path, node in _walk(schema()):
        assert "$ref" not in node and "$defs" not in node, path
        assert "title" not in node or path.endswith(".properties"), path
        assert node.get("additionalProperties") is not False, path
        assert node.get("type") != "null", path
        if "anyOf" in node and not path.endswith(".properties"):
            # The only anyOf a structural schema allows: int-or-string.
            assert node.get("x-kubernetes-int-or-string") is True, path
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
        if "properties" in node and not path.endswith(".properties"):
            assert node.get("type") == "object", path


def test_spec_carries_validation_defaults_and_descriptions() -> None:
    spec = schema()["properties"]["spec"]
    props = spec["properties"]
    assert spec["required"] == ["url"]
    assert props["url"]["pattern"].startswith("^rtsps?://")
    assert (props["segmentSeconds"]["minimum"], props["segmentSeconds"]["maximum"]) == (2, 3600)
    assert props["segmentSeconds"]["default"] == 300
    assert props["transport"] == {
        "description": "RTSP transport: tcp or udp.",
        "enum": ["tcp", "udp"],
        "type": "string",
        "default": "tcp",
    }
    assert props["substreamUrl"]["nullable"] is True and "default" not in props["substreamUrl"]
    assert props["retention"]["default"] == {} and props["motion"]["default"] == {}
    max_bytes = props["retention"]["properties"]["maxBytes"]
    assert max_bytes["x-kubernetes-int-or-string"] is True and "pattern" in max_bytes
    for path, node in _walk(spec):
        if path.count(".properties.") and path.rsplit(".", 2)[-2] == "properties":
            assert node.get("description"), f"{path} has no description for kubectl explain"


def test_whole_status_is_declared() -> None:
    status = schema()["properties"]["status"]["properties"]
    assert set(status) == {
        "phase",
        "workerPod",
        "lastHeartbeat",
        "lastSegmentAt",
        "restarts",
        "message",
        "observedGeneration",
        "conditions",
    }
    assert "Disabled" in status["phase"]["enum"] and status["phase"]["nullable"] is True
    condition = status["conditions"]["items"]
    assert condition["required"] == ["type", "status"]
    assert condition["properties"]["status"]["enum"] == ["True", "False", "Unknown"]


def test_names_subresource_and_columns() -> None:
    spec = crd()["spec"]
    assert spec["names"]["shortNames"] == ["cam"] and spec["scope"] == "Namespaced"
    version = spec["versions"][0]
    assert version["subresources"] == {"status": {}}
    columns = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert columns == ["Phase", "Worker", "Last segment", "Age"]
    name = schema()["properties"]["metadata"]["properties"]["name"]
    assert name["maxLength"] == 63  # a camera's name is a label value too


def test_yaml_round_trips() -> None:
    assert yaml.safe_load(crd_yaml()) == crd()


def test_structural_rewrites() -> None:
    source = {
        "$defs": {"Mode": {"title": "Mode", "enum": ["a", "b"], "type": "string"}},
        "type": "object",
        "title": "X",
        "additionalProperties": False,
        "properties": {
            "mode": {
                "anyOf": [{"$ref": "#/$defs/Mode"}, {"type": "null"}],
                "default": None,
                "description": "d",
            },
            "rate": {"type": "number", "exclusiveMinimum": 0, "title": "Rate"},
        },
    }
    assert structural(source) == {
        "type": "object",
        "properties": {
            "mode": {"enum": ["a", "b"], "type": "string", "description": "d", "nullable": True},
            "rate": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
        },
    }
