"""System: stats, health, readiness, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from pydantic import TypeAdapter

from spectare.api import metrics
from spectare.api.context import services
from spectare.api.errors import JSON, json_response
from spectare.api.schemas import Health
from spectare.api.spec import Body, Reply, operation
from spectare.api.stats import Stats, summarise
from spectare.logs import get_logger
from spectare.store import StoreError

log = get_logger(__name__)
bp = Blueprint("system", __name__)

_STATS = TypeAdapter(Stats)


def current_stats() -> Stats:
    """The stats document, from the cameras' counters (no footage scan)."""
    ctx = services()
    return summarise(ctx.store.list_cameras(), ctx.now(), ctx.settings.stale_seconds)


@operation(
    bp,
    "/api/v1/stats",
    summary="System health and footage totals",
    description="Cameras total, recording, grabbed, orphaned (held with a stale heartbeat), "
    "disabled, queued; distinct workers; footage count, bytes, seconds, oldest, newest; then "
    "per camera the same. Read from counters the store keeps, so it answers in milliseconds "
    "at any amount of footage.",
    tag="system",
    access="read",
    replies={200: Reply("The stats document.", Stats)},
)
def stats() -> Response:
    """The stats document."""
    return Response(_STATS.dump_json(current_stats()), mimetype=JSON)


@operation(
    bp,
    "/healthz",
    summary="Liveness",
    description="200 while the process serves requests; does not touch the store.",
    tag="system",
    access="public",
    replies={200: Reply("Alive.", Health)},
)
def healthz() -> Response:
    """The process is alive."""
    return json_response(Health(status="ok"))


@operation(
    bp,
    "/readyz",
    summary="Readiness",
    description="200 when the footage store answers, 503 otherwise.",
    tag="system",
    access="public",
    replies={200: Reply("Ready.", Health), 503: Reply("The store does not answer.", Health)},
)
def readyz() -> Response:
    """Ready when the store answers."""
    try:
        services().store.ping()
    except StoreError as exc:
        log.warning("api.not_ready", error=str(exc))
        return json_response(Health(status="unavailable", message=str(exc)), 503)
    return json_response(Health(status="ready"))


@operation(
    bp,
    "/metrics",
    summary="Prometheus metrics",
    description="Per camera: segments, bytes, seconds since the last segment, reconnects, "
    "restarts, phase; pool totals. spectare_store_up is 0 when the store does not answer.",
    tag="system",
    access="read",
    replies={
        200: Reply(
            "Prometheus text exposition 0.0.4.", body=Body({"text/plain": {"type": "string"}})
        )
    },
)
def prometheus() -> Response:
    """Metrics for Prometheus."""
    try:
        current: Stats | None = current_stats()
    except StoreError as exc:
        log.warning("api.metrics_store_unavailable", error=str(exc))
        current = None
    return Response(metrics.render(current), content_type=metrics.CONTENT_TYPE)


@operation(
    bp,
    "/openapi.json",
    summary="This API's OpenAPI 3.1 document",
    tag="system",
    access="public",
    replies={
        200: Reply("The OpenAPI document.", body=Body({"application/json": {"type": "object"}}))
    },
)
def openapi() -> Response:
    """The OpenAPI document, built once from the routes and models."""
    from spectare.api.openapi import document_json

    return Response(document_json(current_app), mimetype=JSON)
