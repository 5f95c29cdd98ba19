"""Credentials never show: URLs masked, registered secrets scrubbed from every log line."""

from __future__ import annotations

import logging

from spectare.logs import EventFormatter, get_logger
from spectare.redact import mask_url, register_secret, scrub, with_credentials


def test_mask_url() -> None:
    assert mask_url("rtsp://admin:pw@10.0.0.1:554/s") == "rtsp://admin:***@10.0.0.1:554/s"
    assert mask_url("rtsp://10.0.0.1/s") == "rtsp://10.0.0.1/s"


def test_with_credentials_encodes_and_respects_url_userinfo() -> None:
    assert with_credentials("rtsp://h/s", "ad min", "p@ss:/") == "rtsp://ad%20min:p%40ss%3A%2F@h/s"
    assert with_credentials("rtsp://u:p@h/s", "x", "y") == "rtsp://u:p@h/s"
    assert with_credentials("rtsp://h/s", None, None) == "rtsp://h/s"


def test_registered_secret_scrubbed_raw_and_url_encoded() -> None:
    register_secret("p@ss word!")
    assert scrub("auth p@ss word! and p%40ss%20word%21") == "auth *** and ***"


def test_log_lines_are_scrubbed(caplog: object) -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "ffmpeg.said", None, None)
    record.fields = {"line": "Opening rtsp://admin:hunter2@cam/1 failed"}  # type: ignore[attr-defined]
    line = EventFormatter("text").format(record)
    assert "hunter2" not in line and "rtsp://admin:***@cam/1" in line
    assert line.split(" ", 1)[1].startswith("level=info logger=t event=ffmpeg.said line=")
    assert '"line": "Opening rtsp://admin:***@cam/1 failed"' in EventFormatter("json").format(
        record
    )
    get_logger("t").info("x", a=1)  # the public API accepts fields
