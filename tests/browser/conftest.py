"""Headless Chromium (Debian's ``chromium`` + ``chromium-driver``) against a real server.

The network is closed: selenium is pointed at /usr/bin/chromedriver and
/usr/bin/chromium, so nothing is downloaded, and Chromium runs with every
background service off and a fresh profile.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

from apiharness.dataset import Dataset
from apiharness.fixtures import StartServer, clips, dataset, live_server, start_server
from apiharness.server import ApiProcess

__all__ = ["clips", "dataset", "live_server", "start_server"]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="session")
def ui_server(
    start_server: StartServer, dataset: Dataset, tmp_path_factory: pytest.TempPathFactory
) -> ApiProcess:
    """The API and UI over a copy of the store (the tests change a camera's phase)."""
    url = dataset.copy_store(tmp_path_factory.mktemp("ui-store") / "spectare.db")
    return start_server("ui", url)


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A headless Chromium driven by selenium through Debian's chromedriver."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip("needs Chromium: apt-get install -y chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        "--window-size=1280,900",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
