"""The Camera CustomResourceDefinition, generated from the pydantic model (one source).

``spectare crd`` prints :func:`crd_yaml`; ``deploy/crd.yaml`` is its output and a
test fails when the two drift. pydantic writes JSON Schema 2020-12; Kubernetes wants
a *structural* OpenAPI v3.0 schema, so :func:`structural` rewrites it: ``$ref``
inlined, titles dropped, ``anyOf`` with null turned into ``nullable``, numeric
``exclusiveMinimum`` into the v3.0 boolean form, and ``additionalProperties: false``
removed (structural schemas forbid it; unknown fields are pruned, and refused under
``fieldValidation=Strict``, which kubectl >= 1.27 sends by default).
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from spectare.model import GROUP, KIND, PLURAL, VERSION, Camera, CameraSpec, CameraStatus

SINGULAR = KIND.lower()
SHORT_NAMES = ["cam"]
NAME = f"{PLURAL}.{GROUP}"

#: The API server reports a pattern mismatch with the regex only; this says it in words.
#: (substreamUrl, nullable, keeps the pattern check: CEL on a null value would error.)
SPEC_RULES = [
    {
        "rule": "self.url.startsWith('rtsp://') || self.url.startsWith('rtsps://')",
        "message": "spec.url must be an rtsp:// or rtsps:// URL",
        "fieldPath": ".url",
    },
]

PRINTER_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase",
     "description": "Where the camera stands."},
    {"name": "Worker", "type": "string", "jsonPath": ".status.workerPod",
     "description": "Pod recording this camera."},
    {"name": "Last segment", "type": "date", "jsonPath": ".status.lastSegmentAt",
     "description": "End of the newest recorded segment."},
    {"name": "Restarts", "type": "integer", "jsonPath": ".status.restarts", "priority": 1,
     "description": "Worker pods replaced so far."},
    {"name": "Message", "type": "string", "jsonPath": ".status.message", "priority": 1,
     "description": "Why the camera is in this phase."},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]  # fmt: skip

# Keys of JSON Schema that have no place (or another form) in a structural schema.
_DROPPED = {"title", "additionalProperties", "$defs", "$schema"}


def structural(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rewrite one pydantic JSON schema (with its ``$defs``) as a structural schema."""
    defs = schema.get("$defs", {}) if defs is None else defs
    node = copy.deepcopy(schema)
    if "$ref" in node:
        # A $ref with siblings (description, default): the siblings win over the target's.
        target = defs[node.pop("$ref").rsplit("/", 1)[-1]]
        node = {**copy.deepcopy(target), **node}
    if "anyOf" in node:
        node = _any_of(node, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "properties":
            out[key] = {name: structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out[key] = structural(value, defs)
        elif key == "exclusiveMinimum" and not isinstance(value, bool):
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "exclusiveMaximum" and not isinstance(value, bool):
            out["maximum"], out["exclusiveMaximum"] = value, True
        elif key == "default" and value is None:
            continue  # "no value" is Kubernetes' default already
        else:
            out[key] = value
    return out


def _any_of(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``X | None`` becomes X with ``nullable``; ``int | str`` stays the int-or-string form."""
    options = node.pop("anyOf")
    nullable = any(o.get("type") == "null" for o in options)
    options = [o for o in options if o.get("type") != "null"]
    if nullable:
        node["nullable"] = True
    if node.get("x-kubernetes-int-or-string"):
        # The one anyOf a structural schema allows; value checks (pattern) stay beside it.
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return node
    if len(options) != 1:
        raise ValueError(f"cannot express anyOf {options} in a structural schema")
    only = structural(options[0], defs)
    return {**only, **node}


def _object_defaults(schema: dict[str, Any], model: type[Any]) -> dict[str, Any]:
    """``default: {}`` for nested objects built by a default factory.

    The API server then fills their own defaults, so that a stored Camera shows what
    the worker will really use.
    """
    for name, field in model.model_fields.items():
        key = field.alias or name
        prop = schema["properties"].get(key)
        if field.default_factory is not None and prop and prop.get("type") == "object":
            prop["default"] = {}
    return schema


def spec_schema() -> dict[str, Any]:
    """The structural schema of ``spec``."""
    schema = structural(CameraSpec.model_json_schema(by_alias=True))
    schema = _object_defaults(schema, CameraSpec)
    schema["x-kubernetes-validations"] = SPEC_RULES
    return schema


def status_schema() -> dict[str, Any]:
    """The structural schema of ``status`` (all of it: undeclared fields are pruned)."""
    return structural(CameraStatus.model_json_schema(by_alias=True))


def camera_schema() -> dict[str, Any]:
    """The whole object's schema: metadata name rules, spec and status."""
    name = Camera.model_fields["metadata"].annotation
    assert isinstance(name, type)  # Metadata; its name rules go into the CRD
    name_field = name.model_fields["name"]
    return {
        "type": "object",
        "description": "An IP camera, recorded around the clock by its own worker pod.",
        "required": ["spec"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {
                "type": "object",
                # A camera's name is also a label value and a store id: a DNS label.
                "properties": {
                    "name": {"type": "string", "maxLength": 63,
                             "pattern": _pattern(name_field.metadata)},
                },
            },
            "spec": spec_schema(),
            "status": status_schema(),
        },
    }  # fmt: skip


def _pattern(metadata: list[Any]) -> str:
    for item in metadata:
        pattern = getattr(item, "pattern", None)
        if pattern:
            return str(pattern)
    raise ValueError("Metadata.name has no pattern")


def crd() -> dict[str, Any]:
    """The CustomResourceDefinition as a dict."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": NAME,
            "labels": {
                "app.kubernetes.io/name": "spectare",
                "app.kubernetes.io/part-of": "spectare",
            },
        },
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"kind": KIND, "plural": PLURAL, "singular": SINGULAR,
                      "shortNames": SHORT_NAMES, "categories": ["spectare"]},
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": PRINTER_COLUMNS,
                "schema": {"openAPIV3Schema": camera_schema()},
            }],
        },
    }  # fmt: skip


HEADER = "# Generated by `spectare crd` from src/spectare/model.py. Do not edit.\n"


def crd_yaml() -> str:
    """The CRD as YAML, as ``spectare crd`` prints it and ``deploy/crd.yaml`` holds it."""
    return HEADER + yaml.safe_dump(crd(), sort_keys=False, width=100)
