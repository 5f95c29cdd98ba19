"""The worker's live relay answers its one request over plain HTTP/1.0.

Covers: a request for another path is 404, one without the announced token 401, a
method other than GET 405, a malformed request 400, a camera the hub cannot reach 503
(each a short text/plain answer that ends with the connection); tokens are compared
whole, whatever their lengths; the relay announces
itself beside the footage and withdraws on stop. The stream itself is covered by
tests/integration/test_relay.py.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from spectare.live.hub import LiveHub
from spectare.worker.relay import LiveRelay, same_token


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[LiveRelay]:
    served = LiveRelay(tmp_path, "gate", "127.0.0.1", "w-1", LiveHub(lambda _: None, "ffmpeg", 5))
    served.start()
    yield served
    served.stop()


def ask(relay: LiveRelay, request: bytes) -> str:
    port = int(relay.url.rsplit(":", 1)[1].split("/")[0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(4096):
            answer += chunk
    return answer.decode()


def get(path: str, token: str | None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode()


def test_refusals_are_short_http_answers(relay: LiveRelay) -> None:
    assert ask(relay, get("/other", relay.token)).startswith("HTTP/1.0 404 Not Found\r\n")
    assert ask(relay, get("/live", None)).startswith("HTTP/1.0 401 Unauthorized\r\n")
    assert ask(relay, get("/live", "wrong")).startswith("HTTP/1.0 401 ")
    posted = get("/live", relay.token).replace(b"GET", b"POST", 1)
    assert ask(relay, posted).startswith("HTTP/1.0 405 ")
    assert ask(relay, b"nonsense\r\n\r\n").startswith("HTTP/1.0 400 ")


def test_a_camera_the_hub_cannot_reach_is_503(relay: LiveRelay) -> None:
    answer = ask(relay, get("/live", relay.token))
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.0 503 Service Unavailable\r\n")
    assert "Content-Type: text/plain" in head and "stream address" in body


def test_the_relay_announces_itself_and_withdraws(tmp_path: Path) -> None:
    served = LiveRelay(tmp_path, "gate", "127.0.0.1", "w-1", LiveHub(lambda _: None, "ffmpeg", 5))
    served.start()
    assert served.path.exists() and served.token in served.path.read_text()
    served.stop()
    assert not served.path.exists()


@pytest.mark.parametrize(
    ("given", "expected"),
    [("tok", True), ("toK", False), ("", False), ("to", False), ("toke", False), ("tok\0", False)],
)
def test_only_the_whole_token_matches(given: str, expected: bool) -> None:
    assert same_token(given, "tok") is expected
