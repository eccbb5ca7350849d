"""Test certificates: a private CA and the certificates it signs, written as PEM files.

Made with the `cryptography` package (an Ansible dependency). Test equipment only: the
project's own certificate handling is for the roles to do.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass
class Authority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    ca_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "monitoring-store tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def authority(directory: Path, name: str = "test-ca") -> Authority:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    ca_file = directory / f"{name}.pem"
    ca_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return Authority(key, certificate, ca_file)


def intermediate(ca: Authority, directory: Path, name: str) -> Authority:
    """A CA that ca signs: certificates it issues chain to ca only through it."""
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - datetime.timedelta(minutes=5))
        .not_valid_after(_now() + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca.key, hashes.SHA256())
    )
    ca_file = directory / f"{name}.pem"
    ca_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return Authority(key, certificate, ca_file)


@dataclass
class Issued:
    certificate: str  # PEM
    private_key: str  # PEM (PKCS#8, unencrypted)
    serial: int


def issue_pem(
    ca: Authority,
    common_name: str,
    names: tuple[str, ...] = ("localhost", "127.0.0.1"),
    valid_days: float = 7,
    usages: tuple = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
) -> Issued:
    """A key and a certificate for common_name naming names, valid from five minutes ago
    for valid_days (a negative number gives one that has expired)."""
    key = ec.generate_private_key(ec.SECP256R1())
    alternative = []
    for name in names:
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative.append(x509.DNSName(name))
    serial = x509.random_serial_number()
    not_after = _now() + datetime.timedelta(days=valid_days)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(min(_now() - datetime.timedelta(minutes=5), not_after - datetime.timedelta(days=1)))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Issued(certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode(), serial)


def ca_pem(ca: Authority) -> str:
    return ca.certificate.public_bytes(serialization.Encoding.PEM).decode()


def issue(ca: Authority, path: Path, common_name: str, names: tuple[str, ...] = ("localhost", "127.0.0.1")) -> int:
    """A key and certificate for common_name in one PEM file (as mongod's certificateKeyFile
    and a client's tlsCertificateKeyFile take them), for servers and clients alike; returns
    its serial number."""
    issued = issue_pem(ca, common_name, names)
    path.write_text(issued.private_key + issued.certificate)
    path.chmod(0o600)
    return issued.serial
