"""TLS on the stand-in's port, with Python's ssl module.

- net.tls.mode (docs "Configuration File Options", net.tls.mode): disabled (plain only),
  allowTLS and preferTLS (plain or TLS on the same port), requireTLS (TLS only). A
  connection is told apart by its first byte: every TLS connection opens with a
  handshake record, content type 22 (RFC 8446, section 5.1). Under requireTLS a plain
  connection is closed; with TLS disabled a TLS handshake is not understood and the
  connection is closed too.
- The server presents certificateKeyFile (key and certificate in one PEM file, its
  password certificateKeyFilePassword). With CAFile, a client certificate is required
  and must chain to that CA, unless allowConnectionsWithoutCertificates (a client
  without one is let in; one that presents a certificate must still verify) or
  allowInvalidCertificates (nothing is verified); without CAFile nothing is verified
  (docs "Configure mongod and mongos for TLS/SSL", "Client Certificate Validation").
- Start-up rules (src/mongo/util/net/ssl_options_server.cpp, storeSSLServerOptions, all
  BadValue, exit code 2): TLS on without a certificate key file; CRLFile without CAFile;
  TLS settings with TLS off; clusterAuthMode sendKeyFile/sendX509/x509 with TLS off;
  allowTLS with x509 membership authentication; x509 without CAFile. The stored source
  names the file options by their old names (tlsPEMKeyFile); the messages here use the
  current ones.
- rotateCertificates (src/mongo/db/commands/rotate_certificates.idl and
  rotate_certificates_command.cpp): admin only, allowed on secondaries, needs the
  rotateCertificates action on the cluster (hostManager); optional `message`; new
  connections get the files as they are now, open ones keep theirs.
- The member's own connections to other members (heartbeats, replication, mongos to
  the shards) present clusterFile (or certificateKeyFile) and trust clusterCAFile (or
  CAFile), as mongod does for intra-cluster connections.
"""

from __future__ import annotations

import socket
import ssl

from . import membership
from .errors import CommandError
from .server import Context, Server

ENABLED = ("allowTLS", "preferTLS", "requireTLS")
HANDSHAKE_RECORD = 0x16
X509_MODES = ("sendKeyFile", "sendX509", "x509")

# The options this process's own client connections use (one process, one server).
INTERNAL_CLIENT_OPTIONS: dict = {}


def startup_problem(options: dict) -> str:
    tls = (options.get("net") or {}).get("tls") or {}
    mode = tls.get("mode", "disabled")
    cluster_auth = (options.get("security") or {}).get("clusterAuthMode", "keyFile")
    if mode in ENABLED:
        if not tls.get("certificateKeyFile") and not tls.get("certificateSelector"):
            return "BadValue: need tlsCertificateKeyFile or certificateSelector when TLS is enabled"
        if tls.get("CRLFile") and not tls.get("CAFile"):
            return "BadValue: need tlsCAFile with tlsCRLFile"
        if not tls.get("CAFile") and cluster_auth == "x509":
            return (
                "BadValue: No TLS certificate validation can be performed since no CA file has been provided; "
                "please specify an tlsCAFile parameter"
            )
    elif any(key != "mode" for key in tls):
        return "BadValue: need to enable TLS via the sslMode/tlsMode flag when using TLS configuration parameters"
    if cluster_auth in X509_MODES and mode not in ENABLED:
        return "BadValue: need to enable TLS via the tlsMode flag"
    if mode == "allowTLS" and cluster_auth in ("sendX509", "x509"):
        return "BadValue: cannot have x.509 cluster authentication in allowTLS mode"
    return ""


class Transport:
    """What a connection to this process must speak, and the certificates it presents."""

    def __init__(self, options: dict):
        self.settings = (options.get("net") or {}).get("tls") or {}
        self.mode = self.settings.get("mode", "disabled")
        self.context = self._load() if self.mode in ENABLED else None

    def _load(self) -> ssl.SSLContext:
        settings = self.settings
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(settings["certificateKeyFile"], password=settings.get("certificateKeyFilePassword"))
        if settings.get("CAFile") and not settings.get("allowInvalidCertificates"):
            context.load_verify_locations(settings["CAFile"])
            optional = settings.get("allowConnectionsWithoutCertificates")
            context.verify_mode = ssl.CERT_OPTIONAL if optional else ssl.CERT_REQUIRED
        return context

    def accept(self, sock: socket.socket) -> socket.socket | None:
        """The connection to serve, or None when it must be closed."""
        try:
            first = sock.recv(1, socket.MSG_PEEK)
        except OSError:
            return None
        if not first:
            return None
        speaks_tls = first[0] == HANDSHAKE_RECORD
        if self.context is None:
            return None if speaks_tls else sock
        if not speaks_tls:
            return None if self.mode == "requireTLS" else sock
        try:
            return self.context.wrap_socket(sock, server_side=True)
        except (ssl.SSLError, OSError):
            return None  # the client's certificate did not verify, or it gave up

    def client_options(self) -> dict:
        """pymongo options for this process's connections to other members."""
        if self.context is None:
            return {}
        settings = self.settings
        options = {
            "tls": True,
            "tlsCertificateKeyFile": settings.get("clusterFile") or settings["certificateKeyFile"],
            "tlsAllowInvalidHostnames": bool(settings.get("allowInvalidHostnames")),
        }
        own = "clusterPassword" if settings.get("clusterFile") else "certificateKeyFilePassword"
        password = settings.get(own)
        if password:
            options["tlsCertificateKeyFilePassword"] = password
        ca_file = settings.get("clusterCAFile") or settings.get("CAFile")
        if ca_file:
            options["tlsCAFile"] = ca_file
        return options

    def member_attributes(self) -> list:
        """The DC, O and OU of the certificate this process presents to other members."""
        if self.context is None:
            return []
        return membership.own_member_attributes(self.settings.get("clusterFile") or self.settings["certificateKeyFile"])

    def rotate(self) -> None:
        if self.context is not None:
            self.context = self._load()


def configure(server: Server, options: dict) -> None:
    transport = Transport(options)
    server.extra_state["tls"] = transport
    server.extra_state["member_attributes"] = transport.member_attributes()
    server.wrap_connection = transport.accept
    INTERNAL_CLIENT_OPTIONS.clear()
    INTERNAL_CLIENT_OPTIONS.update(transport.client_options())


def rotate_certificates(server: Server, ctx: Context) -> dict:
    if ctx.db != "admin":
        raise CommandError(13, "rotateCertificates may only be run against the admin database.", "Unauthorized")
    message = ctx.body.get("message")
    if message is not None and not isinstance(message, str):
        raise CommandError(
            14,
            f"BSON field 'rotateCertificates.message' is the wrong type '{type(message).__name__}', "
            "expected type 'string'",
            "TypeMismatch",
        )
    try:
        server.extra_state["tls"].rotate()
        server.extra_state["member_attributes"] = server.extra_state["tls"].member_attributes()
    except (ssl.SSLError, OSError) as error:
        # Not read in the source: the code a failed reload answers with (the old
        # certificates stay in use either way).
        raise CommandError(140, f"Could not rotate certificates: {error}", "InvalidSSLConfiguration") from error
    return {}


HANDLERS = {"rotateCertificates": (rotate_certificates, False)}
