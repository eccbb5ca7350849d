"""The certificate rules, as an Ansible filter run on the controller before anything changes.

`{...} | mongodb_tls_problems` takes one process's certificate, private key and CA (PEM
text) and the names it must answer to, and returns one sentence per broken rule (an
empty list when all hold). A message names the problem and the certificate's host,
never the key. Rules, from MongoDB's "Configure mongod and mongos for TLS/SSL" and
"Use x.509 Certificates for Membership Authentication" pages:

- the key in certificateKeyFile belongs to its certificate;
- the certificate chains to the CA in CAFile (intermediates may follow the leaf in the
  certificate's PEM, or sit in the CA's);
- its subject alternative names cover every name clients and members use for the
  process: its advertised host and the addresses it binds (mongod and the drivers match
  the host they connect to against the SAN, and ignore the CN when a SAN is present);
- it is valid now and not within the warning window of its expiry;
- when it restricts its extended key usage, it allows both serverAuth and clientAuth,
  since a member also connects to the other members as a client with the same file.
"""

from __future__ import annotations

import datetime
import fnmatch
import ipaddress

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

MAX_CHAIN = 8


def _certificates(text: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(text.encode()) if text and text.strip() else []
    except ValueError:
        return []


def _private_key(text: str):
    try:
        return serialization.load_pem_private_key(text.encode(), password=None) if text and text.strip() else None
    except (ValueError, TypeError):
        return None


def _public(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def chains_to(leaf: x509.Certificate, intermediates: list[x509.Certificate], roots: list[x509.Certificate]) -> bool:
    """Whether leaf reaches one of roots through intermediates (signatures checked)."""
    current, candidates = leaf, intermediates + roots
    for _ in range(MAX_CHAIN):
        if any(_public(root.public_key()) == _public(current.public_key()) for root in roots):
            return True
        issuer = next((c for c in candidates if c is not current and _issued_by(current, c)), None)
        if issuer is None:
            return False
        current = issuer
    return False


def _names_of(certificate: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        alternative = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return alternative.get_values_for_type(x509.DNSName), [
        str(address) for address in alternative.get_values_for_type(x509.IPAddress)
    ]


def _covers(name: str, dns_names: list[str], addresses: list[str]) -> bool:
    try:
        return str(ipaddress.ip_address(name)) in addresses
    except ValueError:
        pass
    name = name.lower().rstrip(".")
    for pattern in (n.lower().rstrip(".") for n in dns_names):
        # A wildcard stands for exactly one leftmost label (RFC 6125, section 6.4.3).
        if pattern.startswith("*.") and name.count(".") == pattern.count("."):
            if fnmatch.fnmatchcase(name, pattern):
                return True
        elif name == pattern:
            return True
    return False


def _usage_problem(certificate: x509.Certificate) -> str:
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return ""
    missing = [
        label
        for label, oid in (
            ("serverAuth", ExtendedKeyUsageOID.SERVER_AUTH),
            ("clientAuth", ExtendedKeyUsageOID.CLIENT_AUTH),
        )
        if oid not in usages
    ]
    return " and ".join(missing)


def mongodb_tls_problems(material: dict) -> list[str]:
    """material: host, certificate, private_key, ca (PEM text), names (to cover),
    warning_days, and now (ISO 8601, for tests; the current time otherwise)."""
    host = material["host"]
    subject = f"The TLS certificate of {host}"
    chain = _certificates(material.get("certificate") or "")
    roots = _certificates(material.get("ca") or "")
    key = _private_key(material.get("private_key") or "")
    problems = []
    if not roots:
        problems.append(
            f"The CA certificate for {host} (mongodb_tls_ca_certificate) is missing or not PEM: "
            "mongod's CAFile needs it."
        )
    if not chain:
        problems.append(f"{subject} (mongodb_tls_certificate) is missing or not PEM.")
    if key is None:
        problems.append(
            f"The TLS private key of {host} (mongodb_tls_private_key) is missing, not PEM, or protected by a "
            "passphrase: supply it from Ansible Vault."
        )
    if not chain:
        return problems
    leaf = chain[0]
    if key is not None and _public(key.public_key()) != _public(leaf.public_key()):
        problems.append(f"{subject} and its private key do not match: the key belongs to another certificate.")
    if roots and not chains_to(leaf, chain[1:] + roots[1:], roots):
        problems.append(
            f"{subject} (issued by {leaf.issuer.rfc4514_string()}) does not chain to the CA "
            f"({roots[0].subject.rfc4514_string()}): it is not from this CA."
        )
    dns_names, addresses = _names_of(leaf)
    uncovered = [name for name in material["names"] if not _covers(str(name), dns_names, addresses)]
    if uncovered:
        problems.append(
            f"{subject} does not name {', '.join(map(str, uncovered))} among its subject alternative names "
            f"(it has {', '.join(dns_names + addresses) or 'none'}): clients and members connect by these names."
        )
    now = (
        datetime.datetime.fromisoformat(material["now"]) if material.get("now") else datetime.datetime.now(datetime.UTC)
    )
    expires = leaf.not_valid_after_utc
    warning = datetime.timedelta(days=int(material.get("warning_days", 0)))
    if expires <= now:
        problems.append(f"{subject} expired on {expires:%Y-%m-%d %H:%M} UTC.")
    elif expires <= now + warning:
        problems.append(
            f"{subject} expires on {expires:%Y-%m-%d %H:%M} UTC, within the {material.get('warning_days')}-day "
            "warning window (mongodb_tls_expiry_warning_days): renew it first."
        )
    if leaf.not_valid_before_utc > now:
        problems.append(f"{subject} is not valid before {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC.")
    missing_usage = _usage_problem(leaf)
    if missing_usage:
        problems.append(
            f"{subject} restricts its extended key usage without {missing_usage}: a member presents it both as "
            "a server and as a client of the other members."
        )
    return problems


def mongodb_tls_dropped_cas(trusted_now: str, trusted_next: str) -> list[str]:
    """Subjects of the CA certificates a host trusts now (its CAFile) that the CA text of
    this run no longer holds: processes still presenting certificates they signed would
    be refused by those that take the new file."""
    kept = {certificate.public_bytes(serialization.Encoding.DER) for certificate in _certificates(trusted_next)}
    return [
        certificate.subject.rfc4514_string()
        for certificate in _certificates(trusted_now)
        if certificate.public_bytes(serialization.Encoding.DER) not in kept
    ]


def mongodb_tls_alt_names(names: list[str]) -> list[str]:
    """Subject alternative names for a certificate request: IP:<address> or DNS:<name>."""
    entries = []
    for name in names:
        try:
            entries.append(f"IP:{ipaddress.ip_address(str(name))}")
        except ValueError:
            entries.append(f"DNS:{name}")
    return entries


class FilterModule:
    def filters(self):
        return {
            "mongodb_tls_problems": mongodb_tls_problems,
            "mongodb_tls_alt_names": mongodb_tls_alt_names,
            "mongodb_tls_dropped_cas": mongodb_tls_dropped_cas,
        }
