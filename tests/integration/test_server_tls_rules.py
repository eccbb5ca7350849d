"""TLS as mongod speaks it: net.tls.mode, client certificates against CAFile, the start-up
rules of the TLS settings, and rotateCertificates.

Runs on MONGODB_BIN_DIR's mongod, or the stand-in when it is unset (tests/standin/tls.py
cites the rules). The certificates come from a CA made per test (tests/support/certificates.py).
"""

from __future__ import annotations

import socket
import ssl

import pymongo
import pytest
from cryptography import x509
from support import certificates, servers


@pytest.fixture
def pki(tmp_path):
    """A CA, the server's certificate, a client certificate from it and one from another CA."""
    ca = certificates.authority(tmp_path)
    stranger = certificates.authority(tmp_path, "other-ca")
    files = {"ca": ca.ca_file, "server": tmp_path / "server.pem", "client": tmp_path / "client.pem"}
    files["stranger"] = tmp_path / "stranger.pem"
    certificates.issue(ca, files["server"], "localhost")
    certificates.issue(ca, files["client"], "monitoring-client")
    certificates.issue(stranger, files["stranger"], "monitoring-client")
    return ca, files


def tls_config(tmp_path, files: dict, **tls) -> dict:
    config = servers.base_config(tmp_path, servers.free_port())
    config["net"]["tls"] = {"certificateKeyFile": str(files["server"]), "CAFile": str(files["ca"]), **tls}
    return config


def answers(port: int, **options) -> bool:
    with pymongo.MongoClient(
        "127.0.0.1", port, directConnection=True, serverSelectionTimeoutMS=1500, connectTimeoutMS=1500, **options
    ) as client:
        try:
            client.admin.command("ping")
            return True
        except pymongo.errors.PyMongoError:
            return False


def tls_options(files: dict, certificate: str | None = "client") -> dict:
    options = {"tls": True, "tlsCAFile": str(files["ca"])}
    if certificate:
        options["tlsCertificateKeyFile"] = str(files[certificate])
    return options


def test_require_tls_serves_only_tls_clients_whose_certificate_chains_to_the_ca(start_mongod, tmp_path, pki):
    _, files = pki
    process = start_mongod(tls_config(tmp_path, files, mode="requireTLS"))
    assert not answers(process.port)  # plain text
    assert answers(process.port, **tls_options(files))
    assert not answers(process.port, **tls_options(files, certificate=None))  # CAFile: a certificate is required
    assert not answers(process.port, **tls_options(files, certificate="stranger"))


def test_without_certificates_allowed_a_client_needs_none_but_a_bad_one_is_refused(start_mongod, tmp_path, pki):
    _, files = pki
    process = start_mongod(tls_config(tmp_path, files, mode="requireTLS", allowConnectionsWithoutCertificates=True))
    assert answers(process.port, **tls_options(files, certificate=None))
    assert not answers(process.port, **tls_options(files, certificate="stranger"))


def test_prefer_tls_serves_plain_and_tls_clients_on_one_port(start_mongod, tmp_path, pki):
    _, files = pki
    process = start_mongod(tls_config(tmp_path, files, mode="preferTLS"))
    assert answers(process.port)
    assert answers(process.port, **tls_options(files))


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        ({"mode": "requireTLS"}, "when TLS is enabled"),
        ({"mode": "disabled", "CAFile": "ca.pem"}, "need to enable TLS via the sslMode/tlsMode flag"),
    ],
)
def test_tls_settings_are_checked_at_start_up(start_mongod, tmp_path, tls, message):
    config = servers.base_config(tmp_path, servers.free_port())
    config["net"]["tls"] = tls
    started = start_mongod(config, expect_ok=False).started
    assert started.returncode == 2, started.stdout + started.stderr
    log = (tmp_path / "mongod.log").read_text() if (tmp_path / "mongod.log").exists() else ""
    assert message in started.stdout + started.stderr + log


def presented_serial(port: int, ca_file) -> int:
    context = ssl.create_default_context(cafile=str(ca_file))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as wrapped,
    ):
        der = wrapped.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


def test_rotate_certificates_gives_new_connections_the_new_certificate(start_mongod, tmp_path, pki):
    ca, files = pki
    process = start_mongod(tls_config(tmp_path, files, mode="requireTLS", allowConnectionsWithoutCertificates=True))
    before = presented_serial(process.port, files["ca"])
    old = pymongo.MongoClient("127.0.0.1", process.port, directConnection=True, **tls_options(files))
    try:
        old.admin.command("ping")
        renewed = certificates.issue(ca, files["server"], "localhost")
        assert presented_serial(process.port, files["ca"]) == before  # read at start-up only
        old.admin.command({"rotateCertificates": 1, "message": "test rotation"})
        assert presented_serial(process.port, files["ca"]) == renewed != before
        old.admin.command("ping")  # an open connection keeps working
        with pytest.raises(pymongo.errors.OperationFailure) as refused:
            old.failover.command({"rotateCertificates": 1})
        assert refused.value.code == 13
    finally:
        old.close()


def test_a_replica_set_under_require_tls_elects_and_replicates_over_tls(start_mongod, tmp_path, pki):
    """Members reach each other over TLS (heartbeats, replication) with their own
    certificate key file, as mongod does without a clusterFile."""
    _, files = pki
    members = []
    for index in range(3):
        root = tmp_path / f"m{index}"
        root.mkdir()
        config = tls_config(root, files, mode="requireTLS")
        config["replication"] = {"replSetName": "tls-rs"}
        members.append(start_mongod(config, name=f"m{index}.conf"))
    hosts = [f"127.0.0.1:{member.port}" for member in members]
    first = pymongo.MongoClient(hosts[0], directConnection=True, serverSelectionTimeoutMS=5000, **tls_options(files))
    try:
        settings = {"electionTimeoutMillis": 2000, "heartbeatIntervalMillis": 500}
        first.admin.command(
            "replSetInitiate",
            {"_id": "tls-rs", "members": [{"_id": i, "host": h} for i, h in enumerate(hosts)], "settings": settings},
        )
        with pymongo.MongoClient(
            ",".join(hosts), replicaSet="tls-rs", serverSelectionTimeoutMS=30000, **tls_options(files)
        ) as client:
            client.tls.check.insert_one({"_id": 1})
            client.tls.check.with_options(write_concern=pymongo.WriteConcern("majority", wtimeout=30000)).insert_one(
                {"_id": 2}
            )
            status = client.admin.command("replSetGetStatus")
        assert sorted(m["stateStr"] for m in status["members"]) == ["PRIMARY", "SECONDARY", "SECONDARY"]
    finally:
        first.close()


def test_the_modules_connect_with_tls_and_present_a_client_certificate(start_mongod, tmp_path, pki):
    """The shared connection options (module_utils/mongodb_connection.py) under requireTLS
    with a CA file: the CA file and the client certificate get a module in; without the
    certificate the server refuses it."""
    from support.ansible import run_module

    _, files = pki
    process = start_mongod(tls_config(tmp_path, files, mode="requireTLS"))
    connection = {"login_port": process.port, "tls": True, "tls_ca_file": str(files["ca"]), "timeout": 5}
    ready = run_module("mongodb_wait_ready", {**connection, "tls_certificate_key_file": str(files["client"])})
    assert not ready.get("failed"), ready
    refused = run_module("mongodb_wait_ready", connection)
    assert refused.get("failed"), refused


# -- membership authentication: security.clusterAuthMode at runtime ------------------------


def _keyfile_member(start_mongod, tmp_path, files: dict, tls_mode: str) -> tuple:
    """A mongod with a keyfile (so clusterAuthMode keyFile) and its first user, made
    through the localhost exception; returns (process, client options of that user)."""
    key_file = tmp_path / "keyfile"
    key_file.write_text("k" * 64)
    key_file.chmod(0o400)
    if tls_mode == "disabled":
        config = servers.base_config(tmp_path, servers.free_port())
        options = {}
    else:
        config = tls_config(tmp_path, files, mode=tls_mode)
        options = tls_options(files)
    config["security"] = {"keyFile": str(key_file)}
    process = start_mongod(config)
    with pymongo.MongoClient("127.0.0.1", process.port, directConnection=True, **options) as client:
        client.admin.command("createUser", "admin", pwd="a-long-password", roles=["root"])
    return process, {**options, "username": "admin", "password": "a-long-password"}


def test_cluster_auth_mode_moves_one_step_at_a_time_at_runtime(start_mongod, tmp_path, pki):
    _, files = pki
    process, options = _keyfile_member(start_mongod, tmp_path, files, "requireTLS")
    with pymongo.MongoClient("127.0.0.1", process.port, directConnection=True, **options) as client:
        assert client.admin.command({"getParameter": 1, "clusterAuthMode": 1})["clusterAuthMode"] == "keyFile"
        for skipped in ("x509", "sendX509", "keyFile"):
            with pytest.raises(pymongo.errors.OperationFailure) as refused:
                client.admin.command({"setParameter": 1, "clusterAuthMode": skipped})
            assert refused.value.code == 5579202
            assert f"Illegal state transition for clusterAuthMode from 'keyFile' to '{skipped}'" in str(refused.value)
        for was, mode in (("keyFile", "sendKeyFile"), ("sendKeyFile", "sendX509"), ("sendX509", "x509")):
            assert client.admin.command({"setParameter": 1, "clusterAuthMode": mode})["was"] == was
        assert client.admin.command({"getParameter": 1, "clusterAuthMode": 1})["clusterAuthMode"] == "x509"


def test_cluster_auth_mode_needs_tls_for_certificates(start_mongod, tmp_path, pki):
    _, files = pki
    process, options = _keyfile_member(start_mongod, tmp_path, files, "disabled")
    with pymongo.MongoClient("127.0.0.1", process.port, directConnection=True, **options) as client:
        with pytest.raises(pymongo.errors.OperationFailure) as refused:
            client.admin.command({"setParameter": 1, "clusterAuthMode": "sendKeyFile"})
        assert refused.value.code == 2
        assert "need to enable SSL for outgoing connections" in str(refused.value)
        with pytest.raises(pymongo.errors.OperationFailure) as unknown:
            client.admin.command({"setParameter": 1, "clusterAuthMode": "password"})
        assert unknown.value.code == 2 and "Invalid clusterAuthMode 'password'" in str(unknown.value)
