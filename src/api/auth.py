"""Auth, in one place: a bearer token for writes always, for reads when so configured.

Every view declares whether it reads, writes or is public (see ``spec.operation``);
one ``before_request`` hook enforces it. Writes need ``Authorization: Bearer``; with
no token configured they are refused (403) with a message that says how to set one.
Reads, when ``SPECTARE_API_READ_AUTH=true``, also accept the web UI's session cookie,
because ``<img>`` and ``<video>`` cannot send headers. The cookie holds an HMAC of the
token, never the token, and changing the token signs everyone out.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from flask import Flask, current_app, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from spectare.api.context import services
from spectare.api.errors import ApiError
from spectare.api.spec import Access, operation_of
from spectare.settings import Settings

SESSION_COOKIE = "spectare_session"
#: How to get a token, said wherever one is missing.
HOW_TO_SET = (
    "set SPECTARE_API_TOKEN to a long random secret (e.g. the output of "
    "`openssl rand -hex 32`), restart the API, and send it as 'Authorization: Bearer <token>'"
)
_CHALLENGE = 'Bearer realm="spectare"'


def session_value(token: str) -> str:
    """The session cookie's value for ``token``: an HMAC, so the cookie is not the token."""
    return hmac.new(token.encode(), b"spectare-ui-session-v1", hashlib.sha256).hexdigest()


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _require_bearer(token: str, what: str) -> None:
    given = _bearer()
    if given is None:
        raise ApiError(
            401,
            f"{what} need a token: send 'Authorization: Bearer <token>' "
            "(the value of SPECTARE_API_TOKEN)",
            {"WWW-Authenticate": _CHALLENGE},
        )
    if not _equal(given, token):
        raise ApiError(
            401,
            "the bearer token is not the API token (SPECTARE_API_TOKEN); check it and retry",
            {"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
        )


def _session_ok(token: str) -> bool:
    cookie = request.cookies.get(SESSION_COOKIE)
    return cookie is not None and _equal(cookie, session_value(token))


def authorise(settings: Settings, access: Access) -> None:
    """Raise ApiError unless the current request may do what ``access`` says."""
    if access == "public" or request.method == "OPTIONS":
        return  # CORS preflights carry no credentials by design
    token = settings.api_token.get_secret_value() if settings.api_token else None
    if access == "write":
        if not token:
            raise ApiError(
                403, f"writes are disabled because no API token is configured: {HOW_TO_SET}"
            )
        # Writes take the header only: a cookie would let other sites forge writes (CSRF).
        _require_bearer(token, "writes")
        return
    if not settings.api_read_auth:
        return
    if not token:
        raise ApiError(
            403,
            "reads require a token (SPECTARE_API_READ_AUTH=true) but none is configured: "
            + HOW_TO_SET,
        )
    if _session_ok(token):
        return
    _require_bearer(token, "reads")


def _check() -> BaseResponse | None:
    rule = request.url_rule
    op = None if rule is None else operation_of(current_app.view_functions.get(rule.endpoint))
    if op is None:
        return None  # unknown route or method: routing answers 404/405 itself
    try:
        authorise(services().settings, op.access)
    except ApiError as exc:
        if exc.status == 401 and request.blueprint == "ui":
            # People get the sign-in page rather than a JSON error.
            target = quote(request.full_path.rstrip("?"), safe="/")
            return redirect(f"/login?next={target}", 303)
        raise
    return None


def install_auth(app: Flask) -> None:
    """Check every request against its route's declared access."""
    app.before_request(_check)
