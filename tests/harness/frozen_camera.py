"""A camera that accepts RTSP sessions and then never sends a frame.

It answers OPTIONS, DESCRIBE (one H.264 track), SETUP (interleaved over TCP), PLAY
and keep-alives like a camera whose encoder has hung: the session stays open, no RTP
packet ever comes. ffmpeg's own ``-timeout`` does not fire on such a session.
"""

from __future__ import annotations

import socketserver
import threading
from types import TracebackType

SDP = (
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=frozen\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
    "a=fmtp:96 packetization-mode=1\r\na=control:track1\r\n"
)


class _Session(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        self.server.sessions += 1
        while True:
            request = self._read_request()
            if request is None:
                return
            method, url, cseq = request
            headers = [f"CSeq: {cseq}"]
            body = ""
            if method == "OPTIONS":
                headers.append("Public: OPTIONS, DESCRIBE, SETUP, PLAY, GET_PARAMETER, TEARDOWN")
            elif method == "DESCRIBE":
                headers += [f"Content-Base: {url}/", "Content-Type: application/sdp"]
                body = SDP
            elif method == "SETUP":
                headers += ["Transport: RTP/AVP/TCP;unicast;interleaved=0-1",
                            "Session: 4711;timeout=60"]  # fmt: skip
            elif method in ("PLAY", "GET_PARAMETER"):
                headers.append("Session: 4711")
            reply = "RTSP/1.0 200 OK\r\n" + "".join(f"{h}\r\n" for h in headers)
            reply += f"Content-Length: {len(body)}\r\n\r\n{body}"
            self.wfile.write(reply.encode())
            if method == "TEARDOWN":
                return

    def _read_request(self) -> tuple[str, str, str] | None:
        lines = []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return None
            line = raw.decode(errors="replace").strip()
            if not line:
                break
            lines.append(line)
        if not lines:
            return None
        method, url, *_ = lines[0].split()
        fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        length = int(fields.get("Content-Length", "0").strip() or 0)
        if length:
            self.rfile.read(length)
        return method, url, fields.get("CSeq", "0").strip()


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    sessions = 0


class FrozenCamera:
    """``with FrozenCamera() as cam: cam.url`` — sessions counted in ``cam.sessions``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._server = _Server((host, 0), _Session)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The camera's stream."""
        host, port = self._server.server_address[:2]
        return f"rtsp://{host}:{port}/stream"

    @property
    def sessions(self) -> int:
        """How many connections the camera has accepted."""
        return self._server.sessions

    def __enter__(self) -> FrozenCamera:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


__all__ = ["FrozenCamera"]
