"""The live view in headless Chromium, through Media Source Extensions.

Covers: the camera page opens live and its video advances with a changing picture,
within 2 s of the newest fragment; the grid's live tiles play; leaving the page closes
the one camera connection the viewers shared; a camera that cannot be watched says why.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from streamhelpers import ffmpeg_children

from apiharness.server import ApiProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.procs import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]

#: The picture of the video element, reduced to a few numbers that change when it moves.
_PICTURE = """
const v = document.querySelector(arguments[0]);
if (!v || v.readyState < 2) return null;
const c = document.createElement('canvas'); c.width = 32; c.height = 18;
const g = c.getContext('2d'); g.drawImage(v, 0, 0, 32, 18);
const d = g.getImageData(0, 0, 32, 18).data; let sum = 0;
for (let i = 0; i < d.length; i += 4) sum += d[i] * (i % 97) + d[i + 1] * (i % 89);
const b = v.buffered;
return {t: v.currentTime, lag: b.length ? b.end(b.length - 1) - v.currentTime : null, sum};
"""


def _picture(driver: WebDriver, selector: str) -> dict[str, Any] | None:
    result: dict[str, Any] | None = driver.execute_script(_PICTURE, selector)
    return result


def _watch(driver: WebDriver, selector: str) -> None:
    """The video plays on: its clock advances, its picture changes, it keeps up."""
    first = wait_until(
        lambda: (p := _picture(driver, selector)) and p["t"] > 0.3 and p,
        30,
        f"{selector} to start playing",
        interval=0.2,
    )
    later = wait_until(
        lambda: (
            (p := _picture(driver, selector))
            and p["t"] > first["t"] + 2
            and p["sum"] != first["sum"]
            and p
        ),
        30,
        f"{selector} to advance with a new picture",
        interval=0.2,
    )
    assert later["lag"] is not None and later["lag"] < 2.0, later


def test_camera_page_opens_live(browser: WebDriver, live_server: ApiProcess) -> None:
    browser.get(live_server.url + "/cameras/demo")
    WebDriverWait(browser, 20).until(
        lambda d: d.find_element(By.ID, "player").get_attribute("data-mode") == "live"
    )
    _watch(browser, "#player")
    assert browser.find_element(By.ID, "now-playing").text == "Live"
    assert len(ffmpeg_children(live_server)) == 1
    # Leaving the page is the last viewer leaving: the camera connection closes.
    browser.get("about:blank")
    wait_until(lambda: not ffmpeg_children(live_server), 20, "the live ffmpeg to stop")


def test_grid_switches_to_live_tiles(browser: WebDriver, live_server: ApiProcess) -> None:
    browser.get(live_server.url + "/")
    browser.find_element(By.ID, "live-tiles").click()
    try:
        _watch(browser, '.card[data-camera="demo"] video.live')
        assert browser.find_element(By.CSS_SELECTOR, '.card[data-camera="demo"] img').get_attribute(
            "hidden"
        )
    finally:
        browser.find_element(By.ID, "live-tiles").click()  # off again: remembered per browser
    wait_until(lambda: not ffmpeg_children(live_server), 20, "the live ffmpeg to stop")


def test_a_camera_that_cannot_be_watched_says_why(
    browser: WebDriver, live_server: ApiProcess
) -> None:
    for camera, words in [("off", "is disabled"), ("secret", "credentials")]:
        browser.get(f"{live_server.url}/cameras/{camera}")
        WebDriverWait(browser, 20).until(
            lambda d, words=words: words in d.find_element(By.ID, "now-playing").text
        )
