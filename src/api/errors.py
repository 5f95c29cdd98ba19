"""Errors, in one place: every failure leaves as JSON with a status, its name and a message."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from flask import Flask, Response, request
from pydantic import BaseModel
from werkzeug.exceptions import HTTPException, NotFound

from spectare.logs import get_logger
from spectare.redact import scrub
from spectare.store import StoreError

log = get_logger(__name__)

JSON = "application/json"


class ApiError(Exception):
    """A request the API refuses, with the status and the message the client sees."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def json_response(model: BaseModel, status: int = 200) -> Response:
    """A model as a JSON response; pydantic serialises straight to bytes."""
    return Response(model.model_dump_json(), status=status, mimetype=JSON)


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """The JSON error body every failure uses; the message is scrubbed of credentials."""
    # Imported here: schemas imports the store records, errors must stay importable first.
    from spectare.api.schemas import Error

    try:
        name = HTTPStatus(status).phrase
    except ValueError:
        name = "Error"
    response = json_response(Error(status=status, error=name, message=scrub(message)), status)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _http_error(exc: HTTPException) -> Response | HTTPException:
    if exc.code is None or exc.code < 400:
        return exc  # redirects raised by routing (trailing slashes) stay redirects
    # Keep what the exception says about itself (Allow on 405, Content-Range on 416).
    headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
    message = exc.description or exc.name
    if isinstance(exc, NotFound) and exc.description == NotFound.description:
        message = f"no route {request.path}: see /openapi.json for the routes of this API"
    return error_response(exc.code, message, headers)


def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.message, exc.headers)


def _store_error(exc: StoreError) -> Response:
    log.warning("api.store_unavailable", path=request.path, error=str(exc))
    return error_response(
        503,
        f"the footage store is not answering ({exc}); check that it is running and that "
        "SPECTARE_STORE points at it, then retry",
        {"Retry-After": "5"},
    )


def _unexpected(exc: Exception) -> Response:
    log.error("api.unhandled", exc=True, method=request.method, path=request.path)
    return error_response(500, "internal error; the server log has the details")


def install_error_handlers(app: Flask) -> None:
    """Turn every exception a view can raise into a JSON error."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(StoreError, _store_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
