"""The demo camera's options, pipeline, URLs and start-up errors, from plain data.

Covers: mount specs (``/path``, ``/path=WxH``, bad ones refused); option checks
(odd sizes, bad patterns, a username without a password, the password read from
the environment, duplicate mounts); the pipeline a camera encodes (its size,
GOP, audio track, scene overlay and CBR filler); which GStreamer elements and
Debian packages a set of options needs; the ``rtsp://`` URL a client uses
(loopback for any-address, IPv6 brackets, percent-encoded credentials); the
error a user sees for each exit status of a server that never became ready.
"""

from __future__ import annotations

import argparse

import pytest

from spectare.demo.interpreter import DemoCameraMissingPackages, DemoCameraPortInUse
from spectare.demo.rtsp_options import (
    PASSWORD_ENV,
    launch_description,
    missing_element_packages,
    parse_args,
    parse_mount,
    required_elements,
)
from spectare.demo.server_process import exit_error
from spectare.demo.urls import rtsp_url


def test_mount_specs() -> None:
    assert parse_mount("/cam1", (640, 360)) == ("/cam1", (640, 360))
    assert parse_mount("/cam1/sub=320x180", (640, 360)) == ("/cam1/sub", (320, 180))
    assert parse_mount("/", (2, 2)) == ("/", (2, 2))
    for bad in ("cam1", "/a//b", "/a=320", "/a b"):
        with pytest.raises(argparse.ArgumentTypeError, match="bad mount"):
            parse_mount(bad, (2, 2))


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["--width", "641"], "must be even"),
        (["--fps", "0"], "--fps must be positive"),
        (["--pattern", "ball ! fakesink"], "--pattern must be"),
        (["--username", "u"], "--username needs --password"),
        (["--password", "p"], "--password needs --username"),
        (["--path", "/a", "--path", "/a"], "distinct"),
        (["--path", "/a=321x180"], "positive and even"),
        (["--port", "70000"], "0..65535"),
    ],
)
def test_bad_options_are_refused_with_a_reason(
    argv: list[str],
    complaint: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2
    assert complaint in capsys.readouterr().err


def test_the_password_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    args = parse_args(["--username", "viewer", "--path", "/a", "--path", "/b=320x180"])
    assert args.password == "s3cret"
    assert args.mounts == [("/a", (1280, 720)), ("/b", (320, 180))]


def test_pipeline_follows_the_options() -> None:
    plain = launch_description(parse_args(["--fps", "10", "--gop-seconds", "2"]), 320, 180)
    assert "width=320,height=180,framerate=10/1" in plain
    assert "key-int-max=20" in plain and "pay1" not in plain and "filler" not in plain
    rich = parse_args(["--audio", "--scene", "--fill-bitrate", "--bitrate-kbps", "900"])
    full = launch_description(rich, 640, 360)
    assert "rtppcmapay name=pay1" in full and "clockoverlay" in full
    assert "bitrate=900" in full and "filler=1" in full
    assert required_elements(rich)[-3:] == ["audiotestsrc", "alawenc", "rtppcmapay"]
    assert missing_element_packages(["x264enc", "h264parse", "unknown"]) == [
        "gstreamer1.0-plugins-bad",
        "gstreamer1.0-plugins-base",
        "gstreamer1.0-plugins-ugly",
    ]


@pytest.mark.parametrize(
    ("host", "path", "user", "password", "url"),
    [
        ("127.0.0.1", "/demo", None, None, "rtsp://127.0.0.1:8554/demo"),
        ("0.0.0.0", "demo", None, None, "rtsp://127.0.0.1:8554/demo"),
        ("::1", "/a", None, None, "rtsp://[::1]:8554/a"),
        (
            "127.0.0.1",
            "/a",
            "ad min",
            "p@ss:w/rd",
            "rtsp://ad%20min:p%40ss%3Aw%2Frd@127.0.0.1:8554/a",
        ),
        ("127.0.0.1", "/a", "viewer", None, "rtsp://viewer@127.0.0.1:8554/a"),
    ],
)
def test_rtsp_url(host: str, path: str, user: str | None, password: str | None, url: str) -> None:
    assert rtsp_url(host, 8554, path, user, password) == url


def test_exit_statuses_become_errors_a_user_can_act_on() -> None:
    missing = exit_error(3, "x\nMISSING-PACKAGES: gstreamer1.0-plugins-ugly\n", "127.0.0.1:1")
    assert isinstance(missing, DemoCameraMissingPackages)
    assert missing.packages == ("gstreamer1.0-plugins-ugly",)
    assert "apt-get install gstreamer1.0-plugins-ugly" in str(missing)
    taken = exit_error(4, "", "127.0.0.1:8554", tail="\n--- log ---")
    assert isinstance(taken, DemoCameraPortInUse)
    assert "cannot listen on 127.0.0.1:8554" in str(taken) and str(taken).endswith("--- log ---")
    assert "rejected its options" in str(exit_error(2, "", "h:1"))
    assert "status 9" in str(exit_error(9, "", "h:1"))
