"""Export in headless Chromium: select a range on the timeline, download it, play it.

Covers: dragging across the timeline selects a range and offers its download link
(and does not start playback); the exported file, played by the browser's own player,
plays through to its end, and its duration is the range's (from the keyframe at or
before the start).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from apiharness.dataset import Dataset
from apiharness.server import ApiProcess

pytestmark = pytest.mark.browser

GOP = 2.0  # the dataset's clips have a keyframe every 2 s


def wait(driver: WebDriver, condition: Any, timeout: float = 30, what: str = "") -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, message=what)


def segment_box(driver: WebDriver, footage_id: str) -> dict[str, float]:
    box: dict[str, float] = driver.execute_script(
        "const r = document.querySelector(`#segments .seg[data-id='${arguments[0]}']`)"
        ".getBoundingClientRect(); return {left: r.left, right: r.right, y: r.top + r.height / 2};",
        footage_id,
    )
    return box


def drag(driver: WebDriver, x1: float, x2: float, y: float) -> None:
    actions = ActionChains(driver)
    pointer = actions.w3c_actions.pointer_action
    pointer.move_to_location(int(x1), int(y)).pointer_down()
    pointer.move_to_location(int((x1 + x2) / 2), int(y)).move_to_location(int(x2), int(y))
    pointer.pointer_up()
    actions.perform()


def test_select_a_range_and_play_its_export(
    browser: WebDriver, ui_server: ApiProcess, dataset: Dataset
) -> None:
    segments = dataset.footage["driveway"][:3]  # back to back
    browser.get(ui_server.url + "/cameras/driveway")
    browser.find_element(By.CSS_SELECTOR, '[data-span="600"]').click()
    wait(
        browser,
        lambda d: d.find_elements(By.CSS_SELECTOR, f'.seg[data-id="{segments[2].id}"]'),
        what="the 10 min view",
    )
    first, last = segment_box(browser, segments[0].id), segment_box(browser, segments[2].id)
    drag(
        browser,
        (first["left"] + first["right"]) / 2,
        (last["left"] + last["right"]) / 2,
        first["y"],
    )

    link = wait(browser, lambda d: d.find_element(By.ID, "export-link"), what="the export link")
    assert browser.find_element(By.ID, "export").is_displayed()
    assert not browser.find_element(By.ID, "player").get_attribute("data-segment")  # no playback
    query = parse_qs(urlsplit(link.get_attribute("href")).query)
    start, end = float(query["from"][0]), float(query["to"][0])
    middle = (segments[0].start + segments[0].end) / 2
    assert abs(start - middle) < 3 and abs(end - (segments[2].start + segments[2].end) / 2) < 3

    head = requests.get(link.get_attribute("href"), stream=True, timeout=30)
    assert head.status_code == 200 and "attachment" in head.headers["Content-Disposition"]
    head.close()

    # The browser's own player plays the download through, at 4x to be quick.
    browser.execute_script(
        "const v = document.createElement('video'); v.id = 'exported'; v.muted = true;"
        "v.src = arguments[0]; document.body.append(v);"
        "v.addEventListener('loadedmetadata', () => { v.playbackRate = 4; v.play(); });",
        link.get_attribute("href"),
    )
    ended = wait(
        browser,
        lambda d: d.execute_script(
            "const v = document.getElementById('exported');"
            "return v.ended && {t: v.currentTime, d: v.duration, error: v.error && v.error.code};"
        ),
        timeout=60,
        what="the exported video to play to its end",
    )
    keyframe = segments[0].start + ((start - segments[0].start) // GOP) * GOP
    assert ended["error"] is None
    assert abs(ended["t"] - (end - keyframe)) < 1.0, (ended, end - keyframe)
    assert abs(ended["d"] - (end - keyframe)) < 1.0, (ended, end - keyframe)
