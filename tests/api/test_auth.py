"""Auth: a bearer token for writes always, for reads when configured; the UI's sign-in."""

from __future__ import annotations

import pytest
import requests

from apiharness.dataset import Dataset
from apiharness.fixtures import TOKEN, StartServer
from apiharness.server import ApiProcess

pytestmark = pytest.mark.integration

BEARER = {"Authorization": f"Bearer {TOKEN}"}


def status_and_message(response: requests.Response) -> tuple[int, str]:
    assert response.headers["Content-Type"] == "application/json", response.text
    return response.status_code, str(response.json()["message"])


# -- writes -----------------------------------------------------------------------------


def test_writes_need_the_token(api_token: ApiProcess) -> None:
    url = f"{api_token.url}/api/v1/cameras/garden/release"
    missing = requests.post(url, timeout=10)
    assert status_and_message(missing)[0] == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = requests.post(url, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert status_and_message(wrong)[0] == 401
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    basic = requests.post(url, headers={"Authorization": f"Basic {TOKEN}"}, timeout=10)
    assert basic.status_code == 401
    # Nothing was released by the refused attempts.
    assert (
        requests.get(f"{api_token.url}/api/v1/cameras/garden", timeout=10).json()["worker"]
        == "worker-b"
    )


def test_force_release(api_token: ApiProcess) -> None:
    url = f"{api_token.url}/api/v1/cameras/garden/release"
    first = requests.post(url, headers=BEARER, timeout=10)
    assert first.status_code == 200
    assert first.json() == {"camera": "garden", "released": True, "worker": "worker-b"}
    camera = requests.get(f"{api_token.url}/api/v1/cameras/garden", timeout=10).json()
    assert camera["worker"] is None and camera["orphaned"] is False
    again = requests.post(url, headers=BEARER, timeout=10)
    assert again.json() == {"camera": "garden", "released": False, "worker": None}
    unknown = requests.post(
        f"{api_token.url}/api/v1/cameras/nope/release", headers=BEARER, timeout=10
    )
    assert status_and_message(unknown)[0] == 404


def test_reads_are_open_unless_configured(api_token: ApiProcess) -> None:
    assert requests.get(f"{api_token.url}/api/v1/cameras", timeout=10).status_code == 200
    assert requests.get(f"{api_token.url}/", timeout=10).status_code == 200


# -- protected reads ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/cameras",
        "/api/v1/cameras/driveway",
        "/api/v1/cameras/driveway/footage",
        "/api/v1/cameras/driveway/snapshot",
        "/api/v1/events",
        "/api/v1/stats",
        "/metrics",
    ],
)
def test_reads_need_the_token_when_configured(api_private: ApiProcess, path: str) -> None:
    assert status_and_message(requests.get(api_private.url + path, timeout=10))[0] == 401
    wrong = requests.get(api_private.url + path, headers={"Authorization": "Bearer x"}, timeout=10)
    assert wrong.status_code == 401
    assert requests.get(api_private.url + path, headers=BEARER, timeout=10).status_code == 200


def test_media_needs_the_token_too(api_private: ApiProcess, dataset: Dataset) -> None:
    segment = dataset.footage["driveway"][0]
    url = f"{api_private.url}/api/v1/footage/{segment.id}/video"
    assert requests.get(url, timeout=10).status_code == 401
    assert (
        requests.get(url, headers={**BEARER, "Range": "bytes=0-9"}, timeout=10).status_code == 206
    )


@pytest.mark.parametrize(
    "path", ["/healthz", "/readyz", "/openapi.json", "/login", "/static/app.css"]
)
def test_public_routes_stay_public(api_private: ApiProcess, path: str) -> None:
    assert requests.get(api_private.url + path, timeout=10).status_code == 200


def test_ui_signs_in_with_the_token(api_private: ApiProcess) -> None:
    session = requests.Session()
    page = session.get(f"{api_private.url}/cameras/driveway", allow_redirects=False, timeout=10)
    assert page.status_code == 303
    assert page.headers["Location"] == "/login?next=/cameras/driveway"

    wrong = session.post(
        f"{api_private.url}/login", data={"token": "nope", "next": "/"}, timeout=10
    )
    assert wrong.status_code == 401 and "not the API token" in wrong.text

    signed = session.post(
        f"{api_private.url}/login",
        data={"token": TOKEN, "next": "/cameras/driveway"},
        allow_redirects=False,
        timeout=10,
    )
    assert signed.status_code == 303 and signed.headers["Location"] == "/cameras/driveway"
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert TOKEN not in cookie  # the cookie is an HMAC of the token, not the token

    assert session.get(f"{api_private.url}/cameras/driveway", timeout=10).status_code == 200
    assert session.get(f"{api_private.url}/api/v1/cameras", timeout=10).status_code == 200
    # The cookie never authorises a write: other sites could make the browser send it.
    release = session.post(f"{api_private.url}/api/v1/cameras/driveway/release", timeout=10)
    assert release.status_code == 401


def test_sign_in_never_redirects_off_site(api_private: ApiProcess) -> None:
    for target in ("https://example.invalid/", "//example.invalid/", "/\\example.invalid"):
        response = requests.post(
            f"{api_private.url}/login",
            data={"token": TOKEN, "next": target},
            allow_redirects=False,
            timeout=10,
        )
        assert response.headers["Location"] == "/"


def test_read_auth_without_a_token_refuses_reads(start_server: StartServer) -> None:
    server = start_server("misconfigured", api_read_auth="true")
    status, message = status_and_message(requests.get(f"{server.url}/api/v1/cameras", timeout=10))
    assert status == 403 and "SPECTARE_API_TOKEN" in message
    assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
    server.stop()
