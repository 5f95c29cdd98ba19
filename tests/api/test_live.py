"""The live endpoint against a real demo camera, ffmpeg and the real server.

Covers: the first bytes come within 3 s, typed with the codec for MSE; the stream is
an init segment then fragments starting at a keyframe, the picture as the camera sends
it (H.264, not re-encoded); two viewers share one ffmpeg, which stops when the last
leaves; a server stopped with viewers stops its ffmpeg; JSON errors for an unknown,
disabled or unreachable camera; read auth.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import requests
from streamhelpers import ffmpeg_children, top_boxes

from apiharness.fixtures import TOKEN, StartServer
from apiharness.server import ApiProcess
from harness.procs import wait_until

pytestmark = pytest.mark.integration


def live(server: ApiProcess, camera: str = "demo", **kw: object) -> requests.Response:
    return requests.get(
        f"{server.url}/api/v1/cameras/{camera}/live",
        stream=True,
        timeout=30,
        **kw,  # type: ignore[arg-type]
    )


def take(response: requests.Response, size: int) -> bytes:
    data = b""
    for chunk in response.iter_content(None):
        data += chunk
        if len(data) >= size:
            break
    return data


def test_first_bytes_fast_and_a_playable_stream(live_server: ApiProcess, tmp_path: Path) -> None:
    started = time.monotonic()
    with live(live_server) as response:
        chunks = response.iter_content(None)  # chunks as they arrive
        data = next(chunks)
        waited = time.monotonic() - started
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith('video/mp4; codecs="avc1.')
        for chunk in chunks:
            data += chunk
            if len(data) > 60_000:
                break
    assert waited < 3.0, waited
    assert top_boxes(data)[:3] == [b"ftyp", b"moov", b"moof"]
    path = tmp_path / "live.mp4"
    path.write_bytes(data)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=codec_name,width,height:packet=flags", "-of", "json", str(path)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    info = json.loads(probe.stdout)
    stream = info["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 320, 180)
    assert info["packets"][0]["flags"].startswith("K")  # a viewer starts at a keyframe
    assert len(info["packets"]) > 15


def test_viewers_share_one_camera_connection(live_server: ApiProcess) -> None:
    with live(live_server) as one, live(live_server) as two:
        assert take(one, 20_000) and take(two, 20_000)
        assert len(ffmpeg_children(live_server)) == 1
    wait_until(lambda: not ffmpeg_children(live_server), 20, "ffmpeg to stop with no viewers")


def test_errors_are_json(live_server: ApiProcess) -> None:
    for camera, status, words in [
        ("nosuchcamera", 404, "no camera"),
        ("off", 409, "disabled"),
        ("secret", 503, "credentials"),
    ]:
        response = live(live_server, camera)
        assert response.status_code == status, response.text
        assert words in response.json()["message"]


def test_unreachable_camera_is_a_502(start_server: StartServer, tmp_path: Path) -> None:
    from spectare.store import CameraInfo, open_store

    store_url = f"sqlite:///{tmp_path / 'spectare.db'}"
    store = open_store(store_url)
    store.upsert_camera(
        CameraInfo(id="gone", display_name="Gone", url="rtsp://127.0.0.1:9/nothing")
    )
    store.close()
    server = start_server("live-gone", store_url)
    response = live(server, "gone")
    assert response.status_code == 502, response.text
    assert "could not be streamed" in response.json()["message"]
    assert not ffmpeg_children(server)


def test_stopping_the_server_stops_live_ffmpeg(
    start_server: StartServer, live_server: ApiProcess
) -> None:
    server = start_server("live-stop", live_server.env["SPECTARE_STORE"])
    with live(server) as response:
        assert take(response, 10_000)
        pids = ffmpeg_children(server)
        assert len(pids) == 1
        started = time.monotonic()
        assert server.stop() == 0
        assert time.monotonic() - started < 10
    assert not Path(f"/proc/{pids[0]}").exists()


def test_read_auth_applies(start_server: StartServer, live_server: ApiProcess) -> None:
    server = start_server(
        "live-private", live_server.env["SPECTARE_STORE"], api_token=TOKEN, api_read_auth="true"
    )
    assert live(server).status_code == 401
    with live(server, headers={"Authorization": f"Bearer {TOKEN}"}) as response:
        assert response.status_code == 200 and take(response, 1000)[4:8] == b"ftyp"
