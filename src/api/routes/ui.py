"""The web UI: server-rendered pages plus two small scripts, no front-end build.

``/`` is the camera grid, ``/cameras/<name>`` a camera's timeline and player. The
pages read the same JSON API as everyone else; the server renders the first view
so that the page is useful before (and without) any script.
"""

from __future__ import annotations

import hmac
import time
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    make_response,
    redirect,
    render_template,
    request,
    send_from_directory,
)
from werkzeug.wrappers import Response as BaseResponse

from spectare.api.auth import SESSION_COOKIE, session_value
from spectare.api.context import services
from spectare.api.errors import ApiError
from spectare.api.params import LoginForm, parse
from spectare.api.routes.common import HTML
from spectare.api.schemas import CameraOut, Error
from spectare.api.spec import Body, Reply, operation
from spectare.logs import get_logger
from spectare.store import CameraRecord

log = get_logger(__name__)
STATIC = Path(__file__).resolve().parent.parent / "static"
bp = Blueprint("ui", __name__)

#: Only our own files; no inline script or style, so an injected tag cannot run.
_CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; style-src 'self'; "
    "script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'self'"
)
_PAGE = Reply("The page.", body=HTML)
_STATIC_FILE = Body(
    {
        "text/css": {"type": "string"},
        "text/javascript": {"type": "string"},
        "image/svg+xml": {"type": "string"},
    },
    "A file of the web UI.",
)


@bp.app_template_filter("iso")
def _iso(epoch: float | None) -> str:
    """A time as ISO 8601 UTC, for ``<time datetime>`` and readers without script."""
    if epoch is None:
        return ""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _page(template: str, status: int = 200, **context: object) -> Response:
    response = make_response(render_template(template, **context), status)
    response.headers["Cache-Control"] = "no-store"
    return response


@operation(
    bp,
    "/",
    summary="Camera grid",
    description="Every camera with its latest snapshot, phase and last-segment time, "
    "refreshing by itself.",
    tag="ui",
    access="read",
    replies={200: _PAGE},
)
def grid() -> Response:
    """The camera grid."""
    ctx = services()
    now, stale = ctx.now(), ctx.settings.stale_seconds
    cameras = [CameraOut.of(c, now, stale) for c in ctx.store.list_cameras()]
    return _page("grid.html", cameras=cameras, now=now)


@operation(
    bp,
    "/cameras/<name>",
    summary="Camera page",
    description="A 24-hour timeline of the camera's segments (gaps visible, motion events "
    "marked); a click plays that moment, and playback runs on into the next segment.",
    tag="ui",
    access="read",
    replies={200: _PAGE, 404: Reply("No such camera.", body=HTML)},
)
def camera_page(name: str) -> Response:
    """One camera's timeline and player."""
    ctx = services()
    store = ctx.store
    record = store.get_camera(name)
    if record is None:
        if not store.footage_range(name, limit=1).items:
            return _page("missing.html", 404, name=name)
        record = CameraRecord(id=name)  # removed from the pool, footage still on record
    camera = CameraOut.of(record, ctx.now(), ctx.settings.stale_seconds)
    return _page("camera.html", camera=camera, now=ctx.now())


@operation(
    bp,
    "/login",
    summary="Sign-in page",
    description="Asks for the API token when reads are protected (SPECTARE_API_READ_AUTH).",
    tag="ui",
    access="public",
    replies={200: _PAGE},
)
def login_page() -> Response:
    """The sign-in form."""
    return _page("login.html", next=_safe_next(request.args.get("next")), failed=False)


@operation(
    bp,
    "/login",
    method="POST",
    summary="Sign in",
    description="Checks the token and sets an HttpOnly session cookie (an HMAC of the "
    "token) that lets the browser read; writes still need the bearer header.",
    tag="ui",
    access="public",
    form=LoginForm,
    replies={
        303: Reply("Signed in: on to the page asked for.", headers={"Location": "target"}),
        401: Reply("Wrong token: the form again.", body=HTML),
        403: Reply("No API token is configured.", Error),
    },
)
def login() -> BaseResponse:
    """Sign in with the API token."""
    form = parse(LoginForm, request.form.to_dict(flat=True))
    target = _safe_next(form.next)
    secret = services().settings.api_token
    token = secret.get_secret_value() if secret else ""
    if not token:
        raise ApiError(403, "no API token is configured, so there is nothing to sign in with")
    if not hmac.compare_digest(session_value(form.token), session_value(token)):
        log.warning("api.login_failed", client=request.remote_addr)
        return _page("login.html", 401, next=target, failed=True)
    response = redirect(target, 303)
    response.set_cookie(
        SESSION_COOKIE,
        session_value(token),
        max_age=30 * 86400,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
    )
    log.info("api.login", client=request.remote_addr)
    return response


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to another one."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@operation(
    bp,
    "/static/<path:filename>",
    summary="Web UI files",
    tag="ui",
    access="public",
    replies={200: Reply("The file.", body=_STATIC_FILE)},
)
def static(filename: str) -> Response:
    """A script, style sheet or picture of the UI."""
    return send_from_directory(STATIC, filename, max_age=300)
