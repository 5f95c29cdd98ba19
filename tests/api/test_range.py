"""HTTP Range on footage videos, byte for byte against the file on disk."""

from __future__ import annotations

import pytest
import requests

from apiharness.dataset import Dataset
from apiharness.server import ApiProcess
from spectare.api.media import RangeNotSatisfiable, byte_range

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def segment(dataset: Dataset) -> tuple[str, bytes]:
    footage = dataset.footage["driveway"][1]
    return footage.id, (dataset.root / footage.path).read_bytes()


def fetch(api: ApiProcess, footage_id: str, header: str) -> requests.Response:
    return requests.get(
        f"{api.url}/api/v1/footage/{footage_id}/video", headers={"Range": header}, timeout=10
    )


@pytest.mark.parametrize(
    "spec",
    ["0-0", "0-99", "100-", "-500", "1000-1999", "LAST-", "LAST-LAST", "0-HUGE", "-HUGE", "0-"],
)
def test_partial_content_is_the_exact_bytes(
    api: ApiProcess, segment: tuple[str, bytes], spec: str
) -> None:
    footage_id, data = segment
    size = len(data)
    spec = spec.replace("LAST", str(size - 1)).replace("HUGE", str(size * 10))
    response = fetch(api, footage_id, f"bytes={spec}")
    first, last = byte_range(f"bytes={spec}", size) or (0, size - 1)
    assert response.status_code == 206, response.text
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/{size}"
    assert int(response.headers["Content-Length"]) == last - first + 1
    assert response.content == data[first : last + 1]
    assert response.headers["Content-Type"] == "video/mp4"


def test_suffix_range(api: ApiProcess, segment: tuple[str, bytes]) -> None:
    footage_id, data = segment
    response = fetch(api, footage_id, "bytes=-500")
    assert response.content == data[-500:]
    assert (
        response.headers["Content-Range"] == f"bytes {len(data) - 500}-{len(data) - 1}/{len(data)}"
    )


def test_a_seek_like_a_browser(api: ApiProcess, segment: tuple[str, bytes]) -> None:
    """Browsers ask for an open-ended range from where they seek to."""
    footage_id, data = segment
    middle = len(data) // 2
    response = fetch(api, footage_id, f"bytes={middle}-")
    assert response.status_code == 206
    assert response.content == data[middle:]


@pytest.mark.parametrize("spec", ["SIZE-", "SIZE-SIZE", "5-2", "abc", "-0", "1-2-3", "-"])
def test_unsatisfiable_or_malformed_range_is_416(
    api: ApiProcess, segment: tuple[str, bytes], spec: str
) -> None:
    footage_id, data = segment
    response = fetch(api, footage_id, "bytes=" + spec.replace("SIZE", str(len(data))))
    assert response.status_code == 416, response.text
    assert response.headers["Content-Range"] == f"bytes */{len(data)}"
    body = response.json()
    assert body["status"] == 416 and "range" in body["message"]


@pytest.mark.parametrize("header", ["items=0-5", "bytes=0-1,5-6", "nonsense"])
def test_ranges_that_are_ignored_give_the_whole_file(
    api: ApiProcess, segment: tuple[str, bytes], header: str
) -> None:
    footage_id, data = segment
    response = fetch(api, footage_id, header)
    assert response.status_code == 200
    assert response.content == data


def test_if_range_with_a_stale_etag_gives_the_whole_file(
    api: ApiProcess, segment: tuple[str, bytes]
) -> None:
    footage_id, data = segment
    response = requests.get(
        f"{api.url}/api/v1/footage/{footage_id}/video",
        headers={"Range": "bytes=0-9", "If-Range": '"stale"'},
        timeout=10,
    )
    assert response.status_code == 200 and response.content == data
    etag = response.headers["ETag"]
    fresh = requests.get(
        f"{api.url}/api/v1/footage/{footage_id}/video",
        headers={"Range": "bytes=0-9", "If-Range": etag},
        timeout=10,
    )
    assert fresh.status_code == 206 and fresh.content == data[:10]


def test_head_announces_ranges(api: ApiProcess, segment: tuple[str, bytes]) -> None:
    footage_id, data = segment
    response = requests.head(f"{api.url}/api/v1/footage/{footage_id}/video", timeout=10)
    assert response.status_code == 200
    assert response.headers["Accept-Ranges"] == "bytes"
    assert int(response.headers["Content-Length"]) == len(data)


# -- the range resolver itself (RFC 9110, section 14) ----------------------------------


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=90-", 100, (90, 99)),
        ("bytes=90-500", 100, (90, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-1000", 100, (0, 99)),  # a suffix longer than the file is the whole file
        ("BYTES = 5-5", 100, (5, 5)),
        ("bytes=0-1, 3-4", 100, None),  # several ranges: served whole
        ("items=0-1", 100, None),  # another unit: ignored
        ("garbage", 100, None),
    ],
)
def test_byte_range(header: str, size: int, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=100-", 100),
        ("bytes=9-3", 100),
        ("bytes=-0", 100),
        ("bytes=x-y", 100),
        ("bytes=0-", 0),
        ("bytes=-5", 0),
        ("bytes=", 100),
    ],
)
def test_byte_range_not_satisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        byte_range(header, size)
