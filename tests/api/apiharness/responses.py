"""Requests to the API under test, and what every JSON error answer must hold."""

from __future__ import annotations

from typing import Any

import requests

from .server import ApiProcess


def get(api: ApiProcess, path: str, **kwargs: Any) -> requests.Response:
    """GET ``path`` from the API under test."""
    return requests.get(api.url + path, timeout=10, **kwargs)


def error(response: requests.Response, status: int) -> str:
    """Assert a JSON error of ``status``; its message."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == status
    assert body["error"] and body["message"]
    return str(body["message"])
