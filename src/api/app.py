"""The Flask application factory."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, g, request

from spectare.api.auth import install_auth
from spectare.api.context import Services, StoreHolder, attach
from spectare.api.cors import install_cors, origins_from
from spectare.api.errors import install_error_handlers
from spectare.api.routes import cameras, events, footage, streams, system, ui
from spectare.api.sources import store_sources
from spectare.api.streams import install as install_streams
from spectare.live.hub import Sources
from spectare.logs import get_logger
from spectare.settings import Settings
from spectare.store import Store

log = get_logger(__name__)


def create_app(
    settings: Settings, store: Store | None = None, live_sources: Sources | None = None
) -> Flask:
    """The API and web UI, reading ``store`` (or the one ``settings.store`` names).

    The store is opened on first use when not given, so the app starts (and answers
    ``/healthz``) while the store is still coming up. ``live_sources`` says where each
    camera's stream is (default: its worker's relay or the URL the store mirrors, see
    ``sources``).
    """
    # static_folder=None: the UI serves its files through a documented route of its own.
    app = Flask(__name__, static_folder=None, template_folder="templates")
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, JSON_SORT_KEYS=False)
    # An empty segment (/footage//video) is a 404, not an HTML redirect elsewhere.
    app.url_map.merge_slashes = False
    stores = StoreHolder(settings.store, store, settings.store_deadline_seconds)
    attach(app, Services(settings=settings, stores=stores))
    install_streams(
        app,
        live_sources or store_sources(stores, Path(settings.footage_dir)),
        settings.ffmpeg,
        settings.rw_timeout_seconds,
    )
    for module in (cameras, footage, events, streams, system, ui):
        app.register_blueprint(module.bp)
    install_error_handlers(app)
    install_auth(app)
    # The setting is optional: CORS stays off until someone names origins.
    install_cors(app, origins_from(settings.api_cors_origins))
    app.before_request(_start_timer)
    app.after_request(_finish)
    return app


def _start_timer() -> None:
    g.started = time.perf_counter()


def _finish(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "application/json":
        response.headers.setdefault("Cache-Control", "no-store")
    millis = round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2)
    # Reads are many (the UI polls, players fetch ranges): debug. Writes and errors: info up.
    emit: Callable[..., None]
    if response.status_code >= 500:
        emit = log.error
    elif request.method not in ("GET", "HEAD", "OPTIONS") or response.status_code in (401, 403):
        emit = log.info
    else:
        emit = log.debug
    emit(
        "api.request",
        method=request.method,
        path=request.path,
        status=response.status_code,
        ms=millis,
        client=request.remote_addr,
    )
    return response
