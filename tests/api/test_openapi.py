"""The OpenAPI document against the running server: schemathesis, and coverage of the routes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import CheckFunction
from schemathesis.specs.openapi.checks import positive_data_acceptance

from apiharness.dataset import Dataset
from apiharness.fixtures import TOKEN, StartServer
from apiharness.server import ApiProcess
from spectare.api import create_app
from spectare.api.openapi import document_json
from spectare.settings import load_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fuzzed(
    start_server: StartServer, dataset: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> ApiProcess:
    """A server of its own (with a token, over a copy of the store): schemathesis writes."""
    url = dataset.copy_store(tmp_path_factory.mktemp("fuzz-store") / "spectare.db")
    return start_server("fuzz", url, api_token=TOKEN)


@pytest.fixture(scope="module")
def api_schema(fuzzed: ApiProcess) -> schemathesis.BaseSchema:
    """The document as the running server serves it."""
    return schemathesis.openapi.from_url(f"{fuzzed.url}/openapi.json")


def _operations() -> list[tuple[str, str]]:
    # The routes are the same in every app: list them from one built here, so that each
    # operation is a test of its own. (schemathesis' lazy pytest loader does not work
    # with pytest 9, hence hypothesis driven directly.)
    app = create_app(load_settings(store="sqlite:///unused.db"))
    doc = json.loads(document_json(app))
    return [(method.upper(), path) for path, item in doc["paths"].items() for method in item]


@pytest.mark.parametrize(("method", "path"), _operations())
def test_api_conforms_to_its_schema(
    api_schema: schemathesis.BaseSchema, method: str, path: str
) -> None:
    """No 5xx, documented statuses and content types, bodies that match their schemas."""
    operation = api_schema[path][method]
    # Schema-valid yet refused (400) is right in two cases no JSON Schema can express:
    # an opaque cursor that is not one this API made, and a range with to < from.
    names = {p.get("name") for p in operation.definition.raw.get("parameters", [])}
    excluded: list[CheckFunction] = [positive_data_acceptance] if {"cursor", "to"} & names else []

    @given(case=operation.as_strategy())
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    def check(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(
            headers={"Authorization": f"Bearer {TOKEN}"}, excluded_checks=excluded
        )

    check()


def test_every_route_is_documented(tmp_path) -> None:  # type: ignore[no-untyped-def]
    app = create_app(load_settings(store=f"sqlite:///{tmp_path}/s.db", footage_dir=tmp_path))
    doc = app.test_client().get("/openapi.json").get_json()
    documented = {
        (path, method.upper()) for path, methods in doc["paths"].items() for method in methods
    }
    for rule in app.url_map.iter_rules():
        path = rule.rule.replace("<path:filename>", "{filename}")
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", "{" + arg + "}")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)


def test_read_auth_shows_in_the_document(api_private: ApiProcess) -> None:
    doc = requests.get(f"{api_private.url}/openapi.json", timeout=10).json()
    cameras = doc["paths"]["/api/v1/cameras"]["get"]
    assert {"bearer": []} in cameras["security"]
    assert "401" in cameras["responses"]
    assert "security" not in doc["paths"]["/healthz"]["get"]
