"""Pure parts of the API: fast serialisation equals the models, time parsing, metrics text.

Covers: the fast footage page and event list serialise exactly as the models
do; times parse in the accepted forms and bad ones are refused; the metrics
text parses (labels escaped) and says so when the store is down.
"""

from __future__ import annotations

import json
import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from spectare.api.metrics import render
from spectare.api.params import parse_time
from spectare.api.schemas import EventList, EventOut, FootageOut, FootagePage, PageLinks
from spectare.api.stats import summarise
from spectare.store import CameraRecord, Event, Footage, Page

FOOTAGE = [
    Footage(
        id="0190b0a0-0000-7000-8000-00000000000a", camera="yard",
        path="yard/2024/06/10/0190b0a0-0000-7000-8000-00000000000a.mp4", start=1718000000.0,
        end=1718000300.5, duration=300.5, bytes=123456, container="mp4", codec="h264",
        width=1920, height=1080, motion=0.25,
        thumbnail="yard/2024/06/10/0190b0a0-0000-7000-8000-00000000000a.jpg",
    ),
    Footage(
        id="0190b0a0-0000-7000-8000-00000000000b", camera="yard", path="yard/x.ts",
        start=1718000300.5, end=1718000600.0, duration=299.5, bytes=1, container="ts",
    ),
]  # fmt: skip


def test_fast_footage_page_equals_the_models() -> None:
    page = Page(FOOTAGE, cursor="abc")
    fast = json.loads(FootagePage.encode(page, "/next"))
    slow = FootagePage(
        items=[FootageOut.of(f) for f in FOOTAGE], cursor="abc", links=PageLinks(next="/next")
    ).model_dump(mode="json")
    assert fast == slow
    FootagePage.model_validate(fast)  # and it is a valid instance of the schema
    assert fast["items"][1]["links"]["thumbnail"] is None


def test_fast_event_list_equals_the_models() -> None:
    events = [
        Event(id="e1", camera="yard", footage_id=FOOTAGE[0].id, start=1.0, end=2.0, score=0.5)
    ]
    fast = json.loads(EventList.encode(events, truncated=True))
    slow = EventList(items=[EventOut.of(e) for e in events], truncated=True).model_dump(mode="json")
    assert fast == slow


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1718000000", 1718000000.0),
        ("1718000000.25", 1718000000.25),
        (1718000000, 1718000000.0),
        ("2024-06-10T06:13:20Z", 1718000000.0),
        ("2024-06-10T08:13:20+02:00", 1718000000.0),
        ("2024-06-10T06:13:20", 1718000000.0),  # no zone: UTC
        ("2024-06-10", 1717977600.0),
    ],
)
def test_parse_time(value: object, expected: float) -> None:
    assert parse_time(value) == expected


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "tomorrow", "", True, None, [1]])
def test_parse_time_refuses(value: object) -> None:
    with pytest.raises(ValueError):
        parse_time(value)


def test_metrics_text_parses_and_escapes_labels() -> None:
    cameras = [
        CameraRecord(id="yard", segments=3, bytes=10, seconds=9.0, last_segment_at=95.0,
                     worker="w", heartbeat=99.0, phase="Recording", reconnects=4),
        CameraRecord(id="odd", phase='We"ird\\phase\n'),
    ]  # fmt: skip
    text = render(summarise(cameras, 100.0, 30.0))
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["spectare_camera_reconnects"].type == "counter"
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in families.values() for s in f.samples}  # fmt: skip
    assert samples[("spectare_camera_seconds_since_last_segment", (("camera", "yard"),))] == 5
    assert (
        samples[("spectare_camera_phase", (("camera", "odd"), ("phase", 'We"ird\\phase\n')))] == 1
    )
    assert ("spectare_camera_seconds_since_last_segment", (("camera", "odd"),)) not in samples


def test_metrics_when_the_store_is_down() -> None:
    families = list(text_string_to_metric_families(render(None)))
    assert [(f.name, f.samples[0].value) for f in families] == [("spectare_store_up", 0)]
    assert not math.isnan(families[0].samples[0].value)
