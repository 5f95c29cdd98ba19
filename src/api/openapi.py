"""The OpenAPI 3.1 document, generated from Flask's URL map, the operations and the models.

Nothing here is written by hand per route: paths and path parameters come from
the URL rules, query parameters from the pydantic query models, bodies from the
response models (JSON Schema 2020-12, which OpenAPI 3.1 uses as is), and auth
from each operation's access and the running configuration.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from flask import Flask
from pydantic import BaseModel, TypeAdapter
from werkzeug.routing import Rule

import spectare
from spectare.api.context import services
from spectare.api.schemas import Error
from spectare.api.spec import Operation, Reply, operation_of
from spectare.model import DNS_LABEL

OPENAPI_VERSION = "3.1.0"
_CACHE_KEY = "spectare.openapi"
_REF = "#/components/schemas/{model}"

#: Path parameters by the name the URL rules give them.
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "name": {
        "description": "The camera's id (its Camera resource's name).",
        "schema": {"type": "string", "pattern": DNS_LABEL, "maxLength": 63},
    },
    "footage_id": {
        "description": "The segment's id (a UUIDv7).",
        "schema": {"type": "string", "minLength": 1, "maxLength": 100},
    },
    "filename": {
        "description": "A file of the web UI.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    },
}

_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

DESCRIPTION = """\
Cameras, footage and stats of a Spectare recorder.

Times are epoch seconds (UTC). Query times also accept RFC 3339
(`2024-06-10T06:13:20Z`). Errors are JSON: `{"status", "error", "message"}`.

Auth: writes need `Authorization: Bearer <SPECTARE_API_TOKEN>`; reads too when
`SPECTARE_API_READ_AUTH=true`. With no token configured, writes are refused (403).
"""


def _openapi_path(rule: Rule) -> str:
    return _ARGUMENT.sub(lambda m: "{" + m.group(1) + "}", rule.rule)


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent rather than null: drop the null branch of Optional."""
    schema = {
        k: v for k, v in schema.items() if k != "title" and not (k == "default" and v is None)
    }
    branches = schema.get("anyOf")
    if isinstance(branches, list):
        kept = [b for b in branches if b != {"type": "null"}]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**kept[0], **rest}
        schema["anyOf"] = kept
    return schema


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    parameters = []
    for field_name, field in model.model_fields.items():
        name = field.alias or field_name
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": _strip_null(schema["properties"][name]),
        }
        if field.description:
            parameter["description"] = field.description
        parameters.append(parameter)
    return parameters


def _form_body(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(by_alias=True)
    schema["properties"] = {k: _strip_null(v) for k, v in schema["properties"].items()}
    schema.pop("title", None)
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def _models(operations: Iterable[Operation]) -> list[type[Any]]:
    seen: dict[type[Any], None] = {Error: None}
    for op in operations:
        for reply in op.replies.values():
            if reply.model is not None:
                seen[reply.model] = None
    return list(seen)


def _protected(op: Operation, read_auth: bool) -> bool:
    return op.access == "write" or (op.access == "read" and read_auth)


def _replies(op: Operation, rule: Rule, read_auth: bool) -> dict[int, Reply]:
    """The operation's own replies plus those every route of its kind can give."""
    replies: dict[int, Reply] = {}
    if op.query is not None or op.form is not None:
        replies[400] = Reply("Bad parameters: the message says which and why.", Error)
    if _protected(op, read_auth):
        if op.tag == "ui" and op.access == "read":
            replies[303] = Reply(
                "Not signed in: redirect to /login.", headers={"Location": "/login"}
            )
        else:
            replies[401] = Reply("No bearer token, or the wrong one.", Error)
            replies[403] = Reply("No API token is configured, so this is refused.", Error)
    if rule.arguments:
        replies[404] = Reply("Not found.", Error)
    if op.access != "public":
        replies[503] = Reply("The footage store does not answer; retry later.", Error)
    replies.update(op.replies)
    return replies


def _responses(replies: dict[int, Reply], refs: dict[type[Any], dict[str, Any]]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status in sorted(replies):
        reply = replies[status]
        response: dict[str, Any] = {"description": reply.description}
        if reply.model is not None:
            response["content"] = {"application/json": {"schema": refs[reply.model]}}
        elif reply.body is not None:
            response["content"] = {
                media: {"schema": dict(schema)} for media, schema in reply.body.media.items()
            }
        if reply.headers:
            response["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in reply.headers.items()
            }
        responses[str(status)] = response
    return responses


def build(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of ``app`` as configured."""
    read_auth = services(app).settings.api_read_auth
    routes: list[tuple[Rule, Operation]] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, sorted(r.methods or ()))):
        op = operation_of(app.view_functions.get(rule.endpoint))
        if op is None:
            raise RuntimeError(f"route {rule.rule} is undocumented: declare it with spec.operation")
        routes.append((rule, op))

    models = _models(op for _, op in routes)
    keys, defs = TypeAdapter.json_schemas(
        [(model.__name__, "serialization", TypeAdapter(model)) for model in models],
        ref_template=_REF,
    )
    refs = {model: keys[(model.__name__, "serialization")] for model in models}

    paths: dict[str, dict[str, Any]] = {}
    for rule, op in routes:
        parameters: list[dict[str, Any]] = [
            {"name": arg, "in": "path", "required": True, **PATH_PARAMETERS[arg]}
            for arg in _ARGUMENT.findall(rule.rule)
        ]
        if op.query is not None:
            parameters += _query_parameters(op.query)
        parameters += [
            {"name": name, "in": "header", "required": False, "schema": dict(schema)}
            for name, schema in op.headers.items()
        ]
        entry: dict[str, Any] = {
            "operationId": rule.endpoint,
            "summary": op.summary,
            "tags": [op.tag],
            "responses": _responses(_replies(op, rule, read_auth), refs),
        }
        if op.description:
            entry["description"] = op.description
        if parameters:
            entry["parameters"] = parameters
        if op.form is not None:
            entry["requestBody"] = _form_body(op.form)
        if op.access == "write":
            entry["security"] = [{"bearer": []}]
        elif _protected(op, read_auth):
            entry["security"] = [{"bearer": []}, {"session": []}]
        paths.setdefault(_openapi_path(rule), {})[op.method.lower()] = entry

    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Spectare", "version": spectare.__version__, "description": DESCRIPTION},
        "tags": [
            {"name": "cameras", "description": "Cameras, their state and snapshots."},
            {"name": "footage", "description": "Recorded segments and their media."},
            {"name": "events", "description": "Motion events."},
            {"name": "system", "description": "Stats, health, metrics, this document."},
            {"name": "ui", "description": "The web UI's pages and files."},
        ],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The value of SPECTARE_API_TOKEN.",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "spectare_session",
                    "description": "Set by the web UI's sign-in form (reads only).",
                },
            },
        },
    }


def document_json(app: Flask) -> str:
    """The document as JSON, built on first use: routes and settings are fixed per app."""
    cached: str | None = app.extensions.get(_CACHE_KEY)
    if cached is None:
        cached = json.dumps(build(app), indent=1)
        app.extensions[_CACHE_KEY] = cached
    return cached
