"""Fixtures of the API tests; the helpers live in the ``apiharness`` package beside this file."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from apiharness.fixtures import (
    api,
    api_private,
    api_token,
    clips,
    dataset,
    live_server,
    start_server,
)

__all__ = [
    "api",
    "api_private",
    "api_token",
    "clips",
    "dataset",
    "live_server",
    "start_server",
]
