"""The ``rtsp://`` address of a demo camera's mount, as a client writes it."""

from __future__ import annotations

from urllib.parse import quote

_ANY_ADDRESS = ("", "0.0.0.0", "::")


def rtsp_url(
    host: str, port: int, path: str, username: str | None = None, password: str | None = None
) -> str:
    """``rtsp://[user[:password]@]host:port/path``, credentials percent-encoded.

    A server listening on every address is reached on 127.0.0.1; an IPv6
    address is bracketed; a path without its leading slash gets one.
    """
    if not path.startswith("/"):
        path = "/" + path
    if host in _ANY_ADDRESS:
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    userinfo = ""
    if username is not None:
        userinfo = quote(username, safe="")
        if password is not None:
            userinfo += ":" + quote(password, safe="")
        userinfo += "@"
    return f"rtsp://{userinfo}{host}:{port}{path}"
