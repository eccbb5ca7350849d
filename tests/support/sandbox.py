"""The sharded TLS sandbox that test_site_sandbox*.py share (tests/integration/conftest.py):
its ports, its clients, and the body of the fixture that converges it and stops it
afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pymongo

from support import servers
from support.ansible import run_playbook
from support.site import SANDBOX_INVENTORY, SITE, env

# TLS required on every port, with the project CA.
SANDBOX = (*SANDBOX_INVENTORY, "-e", "mongodb_tls_mode=requireTLS")
# inventories/sandbox/hosts.yml.
BASE_PORTS = {
    "sandbox-mongos-1": 28017,
    "sandbox-cfg-1": 28019,
    "sandbox-shard01-a": 28101,
    "sandbox-shard01-b": 28102,
    "sandbox-shard01-c": 28103,
    "sandbox-shard02-a": 28201,
    "sandbox-shard02-b": 28202,
    "sandbox-shard02-c": 28203,
}


class Ports:
    """The shared sandbox's ports, by host, by shard and in all."""

    def __init__(self):
        self.of_host = dict(BASE_PORTS)
        self.all = tuple(self.of_host.values())
        self.mongos = self.of_host["sandbox-mongos-1"]
        self.shards = {
            f"sandbox-shard-{shard}": tuple(self.of_host[f"sandbox-shard{shard}-{member}"] for member in "abc")
            for shard in ("01", "02")
        }
        self.shard_host = {port: host for host, port in self.of_host.items() if "shard" in host}


PORTS = Ports()


def converge(tmp_path_factory, name: str, *flags: str) -> Iterator[Path]:
    """Body of a fixture: site.yml on a new root (output kept in
    first-run.log, each server's command log so far in first-run-commands.jsonl), then,
    after the fixture's scope, sandbox-stop.yml."""
    root = tmp_path_factory.mktemp(name)
    try:
        result = run_playbook(SITE, *flags, *SANDBOX, env=env(root))
        assert result.returncode == 0, result.stdout[-5000:] + result.stderr
        (root / "first-run.log").write_text(result.stdout + result.stderr)
        for log in root.glob("sandbox-*/data/" + servers.COMMAND_LOG):
            log.with_name("first-run-commands.jsonl").write_text(log.read_text())
        yield root
    finally:  # also after a failed converge: its processes would hold the ports
        run_playbook("playbooks/sandbox-stop.yml", *SANDBOX, env=env(root))


def tls(root: Path) -> dict:
    """What a client of this sandbox presents: TLS, trusting the project CA, with a
    certificate that CA issued (the router's own; it names 127.0.0.1)."""
    [certificate] = (root / "sandbox-mongos-1" / "tls").glob("mongos-*.pem")
    return {"tls": True, "tlsCAFile": str(root / "tls-ca" / "ca.crt"), "tlsCertificateKeyFile": str(certificate)}


def secret(root: Path, name: str) -> str:
    return (root / "secrets" / name).read_text().split()[0]


def admin_client(root: Path, port: int, **options) -> pymongo.MongoClient:
    return pymongo.MongoClient(
        "127.0.0.1",
        port,
        username="admin",
        password=secret(root, "admin"),
        authSource="admin",
        serverSelectionTimeoutMS=5000,
        **tls(root),
        **options,
    )
