"""How members and routers prove to each other that they belong to the cluster
(security.clusterAuthMode), and the clusterAuthMode server parameter.

- What each mode sends and accepts (src/mongo/db/auth/cluster_auth_mode.cpp: sendsKeyFile,
  allowsKeyFile, sendsX509, allowsX509): keyFile sends the keyfile and accepts only the
  keyfile; sendKeyFile sends the keyfile and accepts both; sendX509 sends its x.509
  certificate and accepts both; x509 sends its certificate and accepts only certificates.
  Without clusterAuthMode, a keyFile implies keyFile (storeServerOptions,
  src/mongo/db/server_options_server_helpers.cpp); with neither the mode is "undefined".
- A certificate is a member's when the DC, O and OU attributes of its subject, sorted,
  are exactly those of this process's own member certificate (clusterFile, else
  certificateKeyFile), and there is at least one (SSLConfiguration::isClusterMember and
  canonicalizeClusterDN, src/mongo/util/net/ssl_manager.cpp: `client == server`; docs
  "Use x.509 Certificates for Membership Authentication": the same O, OU and DC on every
  member).
- The parameter (src/mongo/util/net/ssl_parameters_auth.cpp, ClusterAuthModeServerParameter):
  set at runtime only, on mongod and mongos; getParameter answers the mode's name;
  an unknown name is BadValue "Invalid clusterAuthMode '<value>'"; a mode that allows
  x.509 with TLS disabled or allowTLS is BadValue "Illegal state transition for
  clusterAuthMode, need to enable SSL for outgoing connections"; the only moves are
  keyFile -> sendKeyFile -> sendX509 -> x509 (ClusterAuthMode::canTransitionTo, from
  "undefined" anything); any other, the same mode again included, is 5579202 "Illegal
  state transition for clusterAuthMode from '<old>' to '<new>'" (ClusterAuthMode::set,
  src/mongo/db/auth/auth_decorations.cpp).

A member's internal command carries INTERNAL_KEY_FIELD (replset.py): the digest of its
keyfile when its mode sends the keyfile, X509 when it sends its certificate (which the
TLS connection already presented; tls.py).
"""

from __future__ import annotations

from cryptography import x509
from cryptography.x509.oid import NameOID

from .errors import CommandError
from .server import Context, Server

PARAMETER = "clusterAuthMode"
X509 = "x509"
MODES = ("keyFile", "sendKeyFile", "sendX509", "x509")
SENDS_KEYFILE = ("keyFile", "sendKeyFile")
ALLOWS_KEYFILE = ("keyFile", "sendKeyFile", "sendX509")
ALLOWS_X509 = ("sendKeyFile", "sendX509", "x509")
NEXT = {"keyFile": "sendKeyFile", "sendKeyFile": "sendX509", "sendX509": "x509"}
# The subject attributes isClusterMember compares, as Python's ssl names them.
MEMBER_ATTRIBUTES = {
    NameOID.DOMAIN_COMPONENT: "domainComponent",
    NameOID.ORGANIZATION_NAME: "organizationName",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "organizationalUnitName",
}


def initial_mode(options: dict) -> str:
    security = options.get("security") or {}
    return security.get("clusterAuthMode") or ("keyFile" if security.get("keyFile") else "undefined")


def mode(server: Server) -> str:
    if PARAMETER not in server.extra_state:
        server.extra_state[PARAMETER] = initial_mode(server.settings.parsed_options)
    return server.extra_state[PARAMETER]


def own_member_attributes(certificate_file: str | None) -> list[tuple[str, str]]:
    """The DC, O and OU of this process's member certificate, as (name, value) pairs."""
    if not certificate_file:
        return []
    with open(certificate_file, "rb") as handle:
        certificate = x509.load_pem_x509_certificates(handle.read())[0]
    return [
        (MEMBER_ATTRIBUTES[attribute.oid], str(attribute.value))
        for attribute in certificate.subject
        if attribute.oid in MEMBER_ATTRIBUTES
    ]


def peer_subject(peer_certificate: dict | None) -> list[tuple[str, str]]:
    """ssl.SSLSocket.getpeercert()'s subject, flattened to (name, value) pairs."""
    if not peer_certificate:
        return []
    return [pair for relative_name in peer_certificate.get("subject", ()) for pair in relative_name]


def is_member_certificate(server: Server, ctx: Context) -> bool:
    own = sorted(server.extra_state.get("member_attributes") or [])
    peer = sorted(pair for pair in ctx.peer_subject if pair[0] in MEMBER_ATTRIBUTES.values())
    return bool(peer) and peer == own


def credential(server: Server, key: str) -> str:
    """What this process's internal commands carry: its keyfile's digest, or X509."""
    return X509 if mode(server) in ("sendX509", "x509") else key


def accepts(server: Server, ctx: Context, presented, key: str) -> bool:
    current = mode(server)
    if current == "undefined":  # neither keyFile nor clusterAuthMode: no access control
        return True
    if presented == X509:
        return current in ALLOWS_X509 and is_member_certificate(server, ctx)
    return current in ALLOWS_KEYFILE and presented == key


def set_mode(server: Server, value) -> dict:
    if value not in MODES:
        raise CommandError(2, f"Invalid clusterAuthMode '{value}'", "BadValue")
    tls_mode = ((server.settings.parsed_options.get("net") or {}).get("tls") or {}).get("mode", "disabled")
    if value in ALLOWS_X509 and tls_mode in ("disabled", "allowTLS"):
        raise CommandError(
            2, "Illegal state transition for clusterAuthMode, need to enable SSL for outgoing connections", "BadValue"
        )
    was = mode(server)
    if was != "undefined" and NEXT.get(was) != value:  # the same mode again is refused too
        raise CommandError(
            5579202, f"Illegal state transition for clusterAuthMode from '{was}' to '{value}'", "Location5579202"
        )
    server.extra_state[PARAMETER] = value
    return {"was": was}
