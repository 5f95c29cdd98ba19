"""One place that scrubs credentials from anything shown: URLs, log lines, errors."""

from __future__ import annotations

import re
import threading
from urllib.parse import quote

MASK = "***"

# user:password@ in any URL-looking text (rtsp, rtsps, http...), password masked.
_USERINFO = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<pw>[^@/\s]*)@"
)

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret so that it is masked wherever it shows up later."""
    if value and len(value) >= 3:
        with _lock:
            _secrets.update({value, quote(value, safe="")})


def scrub(text: str) -> str:
    """Mask URL passwords and every registered secret in ``text``."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def mask_url(url: str) -> str:
    """The URL as it may be shown: password masked."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", url)


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """The URL with credentials filled in (URL-encoded), unless it carries its own."""
    if not username or "@" in url.split("://", 1)[-1].split("/", 1)[0]:
        return url
    scheme, rest = url.split("://", 1)
    userinfo = quote(username, safe="")
    if password:
        userinfo += ":" + quote(password, safe="")
    return f"{scheme}://{userinfo}@{rest}"
