"""No response, header, page or log line ever carries a camera password."""

from __future__ import annotations

import pytest
import requests

from apiharness.dataset import SECRET, Dataset
from apiharness.fixtures import TOKEN
from apiharness.server import ApiProcess

pytestmark = pytest.mark.integration


def every_get_route(dataset: Dataset) -> list[str]:
    segment = dataset.footage["driveway"][0]
    return [
        "/", "/cameras/driveway", "/cameras/garden", "/cameras/nope", "/login",
        "/api/v1/cameras", "/api/v1/cameras/driveway", "/api/v1/cameras/nope",
        "/api/v1/cameras/driveway/footage", "/api/v1/cameras/driveway/footage?limit=0",
        "/api/v1/cameras/driveway/snapshot", f"/api/v1/footage/{segment.id}",
        f"/api/v1/footage/{segment.id}/thumbnail", "/api/v1/events", "/api/v1/stats",
        "/healthz", "/readyz", "/metrics", "/openapi.json", "/nowhere",
    ]  # fmt: skip


@pytest.mark.parametrize("server", ["api", "api_private"])
def test_no_password_in_any_answer(
    request: pytest.FixtureRequest, dataset: Dataset, server: str
) -> None:
    api: ApiProcess = request.getfixturevalue(server)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for path in every_get_route(dataset):
        response = requests.get(api.url + path, headers=headers, timeout=10)
        assert SECRET not in response.text, path
        assert all(SECRET not in value for value in response.headers.values()), path
    release = requests.post(f"{api.url}/api/v1/cameras/nope/release", headers=headers, timeout=10)
    assert SECRET not in release.text
    assert SECRET not in api.log()
    # The log did record the traffic (so the check above looked at something).
    assert "api.request" in api.log()
