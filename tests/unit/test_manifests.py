"""Camera manifests: defaults, validation, and errors that name file, document and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from spectare.manifests import ManifestError, load_files, parse_documents
from spectare.model import Transport

GOOD = """
apiVersion: spectare.io/v1alpha1
kind: Camera
metadata: {name: driveway}
spec:
  url: rtsp://10.45.3.23:554/Streaming/Channels/1
  credentialsSecret: driveway-cam
---
apiVersion: v1
kind: Secret
metadata: {name: driveway-cam}
stringData: {username: admin, password: hunter22}
"""


def camera_doc(**spec: object) -> str:
    fields = "\n".join(f"  {k}: {v}" for k, v in spec.items())
    head = "apiVersion: spectare.io/v1alpha1\nkind: Camera\nmetadata: {name: cam}\n"
    return f"{head}spec:\n{fields}\n"


def test_defaults_and_secrets() -> None:
    found = parse_documents(GOOD, "cams.yaml")
    [camera] = found.cameras
    spec = camera.spec
    assert (spec.enabled, spec.transport, spec.segment_seconds, spec.snapshot_seconds) == (
        True, Transport.TCP, 300, 10,
    )  # fmt: skip
    assert spec.motion.enabled and spec.retention.days is None
    creds = found.credentials_for(camera)
    assert creds is not None and (creds.username, creds.password) == ("admin", "hunter22")


def test_base64_secret_data() -> None:
    found = parse_documents(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {username: YWRtaW4=}\n"
    )
    assert found.secrets["s"].username == "admin"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"url": "http://cam/1"}, "spec.url"),
        ({"url": "rtsp://cam/1", "segmentSeconds": 0}, "spec.segmentSeconds"),
        ({"url": "rtsp://cam/1", "segmentSeconds": 3601}, "spec.segmentSeconds"),
        ({"url": "rtsp://cam/1", "colour": "red"}, "spec.colour"),
        ({"url": "rtsp://cam/1", "transport": "sctp"}, "spec.transport"),
        ({"url": "rtsp://cam/1", "retention": "{maxBytes: lots}"}, "spec.retention.maxBytes"),
    ],
)
def test_bad_manifest_names_file_document_and_field(spec: dict[str, object], field: str) -> None:
    text = GOOD + "---\n" + camera_doc(**spec)
    with pytest.raises(ManifestError) as error:
        parse_documents(text, "cams.yaml")
    message = str(error.value)
    assert "cams.yaml, document 3 (camera 'cam')" in message
    assert field in message


def test_bad_name() -> None:
    with pytest.raises(ManifestError, match=r"metadata\.name"):
        parse_documents(camera_doc(url="rtsp://c/1").replace("name: cam", "name: Bad_Name"))


def test_unknown_kind_and_duplicates(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="kind 'Deployment'"):
        parse_documents("apiVersion: apps/v1\nkind: Deployment\n")
    doc = camera_doc(url="rtsp://c/1")
    with pytest.raises(ManifestError, match="used twice: cam"):
        parse_documents(doc + "---\n" + doc)
    (tmp_path / "a.yaml").write_text(doc)
    (tmp_path / "b.yaml").write_text(doc)
    with pytest.raises(ManifestError, match="more than one file"):
        load_files([tmp_path / "a.yaml", tmp_path / "b.yaml"])


def test_example_manifest_is_valid() -> None:
    found = load_files([Path(__file__).parents[2] / "examples" / "cameras.yaml"])
    assert found.cameras
