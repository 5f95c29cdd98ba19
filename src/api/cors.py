"""CORS: off unless origins are configured; then only for those origins, never with cookies."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, Response, request


def origins_from(value: object) -> list[str]:
    """Allowed origins from a setting: a list, or a comma-separated string; empty = off."""
    if value is None:
        return []
    items: Iterable[object] = value.split(",") if isinstance(value, str) else value  # type: ignore[assignment]
    return [str(item).strip().rstrip("/") for item in items if str(item).strip()]


def install_cors(app: Flask, origins: list[str]) -> None:
    """Answer cross-origin requests from ``origins`` (``*`` for any); nothing if empty."""
    if not origins:
        return
    allowed = set(origins)
    any_origin = "*" in allowed

    @app.after_request
    def _cors(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin and (any_origin or origin in allowed):
            # Bearer tokens are explicit headers, so they work cross-origin; the session
            # cookie does not (no Allow-Credentials), which keeps other sites out of it.
            response.headers["Access-Control-Allow-Origin"] = "*" if any_origin else origin
            response.vary.add("Origin")
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Range, Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "GET, HEAD, POST, OPTIONS"
            response.headers["Access-Control-Expose-Headers"] = (
                "Content-Range, Accept-Ranges, Content-Length, ETag"
            )
            response.headers["Access-Control-Max-Age"] = "600"
        return response
