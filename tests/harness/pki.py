"""Certificates and static tokens for the test control plane and node.

``Pki`` is a throwaway CA in a directory: it writes ``ca.crt`` and issues
serving and client certificates signed by it (the API server's, the kubelet's,
and one per node component).  ``TokenUser`` is an identity of the API server's
``--token-auth-file``.  All of it lives for one test session and is deleted
with its work directory.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# The first address of the service range: the in-cluster `kubernetes` Service.
KUBERNETES_SERVICE_IP = "10.0.0.1"


@dataclasses.dataclass(frozen=True)
class TokenUser:
    """A static-token identity: user name, groups and bearer token."""

    name: str
    groups: tuple[str, ...]
    token: str

    def csv_line(self) -> str:
        """The line for ``--token-auth-file``: token,user,uid,"groups"."""
        return f'{self.token},{self.name},{self.name},"{",".join(self.groups)}"'


def service_account_user(namespace: str, name: str, token: str | None = None) -> TokenUser:
    """A user that looks to RBAC exactly like ServiceAccount ``namespace/name``."""
    return TokenUser(
        name=f"system:serviceaccount:{namespace}:{name}",
        groups=(
            "system:serviceaccounts",
            f"system:serviceaccounts:{namespace}",
            "system:authenticated",
        ),
        token=token or secrets.token_urlsafe(32),
    )


def _pem_key(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _name(cn: str, orgs: Sequence[str] = ()) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in orgs]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attributes)


class Pki:
    """A CA in ``directory`` (``ca.crt``; its key stays in memory) that issues certificates."""

    def __init__(self, directory: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        self.directory = directory
        now = datetime.datetime.now(datetime.UTC)
        self._validity = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=7))
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = _name("spectare-test-ca")
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._validity[0])
            .not_valid_after(self._validity[1])
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        self._write("ca.crt", self._cert.public_bytes(serialization.Encoding.PEM))

    @property
    def ca_file(self) -> Path:
        """The CA certificate every component trusts."""
        return self.directory / "ca.crt"

    def _write(self, filename: str, data: bytes) -> Path:
        path = self.directory / filename
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    def issue(
        self,
        stem: str,
        cn: str,
        orgs: Sequence[str] = (),
        *,
        ips: Sequence[str] = (),
        dns: Sequence[str] = (),
        server: bool = False,
        client: bool = False,
    ) -> tuple[Path, Path]:
        """Issue a certificate; write ``<stem>.crt`` and ``<stem>.key``; return both paths."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID

        key = ec.generate_private_key(ec.SECP256R1())
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
        usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn, orgs))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._validity[0])
            .not_valid_after(self._validity[1])
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        names: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
        names += [x509.DNSName(name) for name in dns]
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        return (
            self._write(f"{stem}.crt", cert.public_bytes(serialization.Encoding.PEM)),
            self._write(f"{stem}.key", _pem_key(key)),
        )

    def write_service_account_keys(self) -> None:
        """Write the service-account token signing pair ``sa.key`` / ``sa.pub``."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._write("sa.key", _pem_key(sa_key))
        self._write(
            "sa.pub",
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
        )


def write_control_plane_pki(directory: Path, extra_ips: Sequence[str] = ()) -> Pki:
    """Write the CA, the API server's serving cert (``serving.*``) and the SA key pair.

    The serving cert covers loopback, the in-cluster service IP and ``extra_ips``
    (the node IP, when pods reach the API server through it).
    """
    pki = Pki(directory)
    pki.issue(
        "serving",
        "kube-apiserver",
        ips=["127.0.0.1", KUBERNETES_SERVICE_IP, *extra_ips],
        dns=[
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        ],
        server=True,
    )
    pki.write_service_account_keys()
    return pki
