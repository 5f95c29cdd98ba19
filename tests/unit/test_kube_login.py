"""The operator's client takes inline key material without leaving it on disk."""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from spectare.operator.handlers import in_cluster_server
from spectare.operator.kube import Kube


def _self_signed() -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "operator")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), pem_key


def test_inline_client_certificate_and_ca_leave_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    cert, key = _self_signed()
    info = SimpleNamespace(
        insecure=False, server="https://127.0.0.1:6443", scheme=None, token=None,
        ca_path=None, ca_data=cert, certificate_path=None, certificate_data=cert,
        private_key_path=None, private_key_data=key,
    )  # fmt: skip
    client = Kube.from_connection(info)
    assert client.ssl is not False and client.ssl is not True
    assert client.ssl.get_ca_certs()  # the CA was loaded from memory
    assert list(tmp_path.iterdir()) == []  # and the key material is gone from disk


@pytest.mark.parametrize(
    ("environ", "server"),
    [
        ({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"},
         "https://10.0.0.1:443"),
        ({"KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"},
         "https://[fd00::1]:6443"),
        ({}, None),  # not in a pod: kopf's own choice stands
    ],
)  # fmt: skip
def test_in_a_pod_the_api_server_is_reached_without_cluster_dns(
    environ: dict[str, str], server: str | None
) -> None:
    assert in_cluster_server(environ) == server
