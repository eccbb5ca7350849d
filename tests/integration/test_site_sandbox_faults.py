"""The sandbox's day-2 runs and faults: the certificates rotated, members down, a shard
primary killed under writes, a rolling restart. They move primaries and restart
processes, so they run on the shared sandbox after test_site_sandbox.py's read-mostly
tests, on the same worker (tests/integration/conftest.py).
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import threading
import time

import pymongo
from cryptography import x509
from support import servers
from support.ansible import recap, run_playbook
from support.sandbox import PORTS, SANDBOX, admin_client, secret, tls
from support.site import ADVERTISED_ADDRESS, SITE, env

SHARD_PORTS = PORTS.shards
HOST_OF_PORT = PORTS.shard_host


# -- certificates rotated -------------------------------------------------------------


def presented_serial(root, port: int) -> int:
    """Serial number of the certificate the process on port shows a new TLS connection."""
    context = ssl.create_default_context(cafile=tls(root)["tlsCAFile"])
    context.load_cert_chain(tls(root)["tlsCertificateKeyFile"])
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as connection,
    ):
        return int(connection.getpeercert()["serialNumber"], 16)


def placed_serial(root, host: str) -> int:
    [placed] = (root / host / "tls").glob("mongo[ds]-*.pem")
    return x509.load_pem_x509_certificate(placed.read_bytes()).serial_number


def test_rotated_certificates_reach_every_process_one_at_a_time_without_a_restart(sandbox):
    """playbooks/rotate-certificates.yml: a new certificate from the project CA for every
    process, applied with rotateCertificates one process after another (the arbiter, which
    has no users to ask, restarts); a connection opened before keeps working, and a new
    one is shown the new certificate, the one now on file."""
    hosts = {port: host for host, port in PORTS.of_host.items()}
    arbiters = ["sandbox-shard02-c"] if ADVERTISED_ADDRESS else []
    before = {port: presented_serial(sandbox, port) for port in hosts}
    pids_before = pids(sandbox)
    with admin_client(sandbox, PORTS.mongos, maxPoolSize=1) as opened_before:
        connection = opened_before.admin.command("hello")["connectionId"]
        result = run_playbook("playbooks/rotate-certificates.yml", *SANDBOX, env=env(sandbox))
        assert result.returncode == 0, result.stdout[-5000:]
        assert opened_before.admin.command("hello")["connectionId"] == connection
    for port, host in hosts.items():
        now = presented_serial(sandbox, port)
        assert now != before[port] and now == placed_serial(sandbox, host), host
    rotated = changed_by(result.stdout, "Apply the new certificates with rotateCertificates")
    assert sorted(rotated) == sorted(set(hosts.values()) - set(arbiters))
    pids_after = pids(sandbox)
    assert [host for host in pids_before if pids_after[host] != pids_before[host]] == arbiters
    for host in rotated:  # each process showed its new serial before the next one began
        assert f"{host} presents certificate serial {placed_serial(sandbox, host):x}" in result.stdout


# -- faults: members down, a primary killed (run last: they move the shards' primaries) --


def kill_member(root, host: str) -> None:
    pid = int((root / host / "mongod.pid").read_text().strip())
    os.kill(pid, 9)
    servers.wait_for(lambda: servers.exited(pid), 30)


def start_member(root, host: str) -> None:
    started = servers.run_binary("mongod", "--config", str(root / host / "mongod.conf"))
    assert started.returncode == 0, started.stdout + started.stderr


def shard_primary_port(root, shard: str) -> int:
    def writable(port: int) -> bool:
        with pymongo.MongoClient(
            "127.0.0.1", port, directConnection=True, serverSelectionTimeoutMS=1000, **tls(root)
        ) as client:
            try:
                return client.admin.command("hello").get("isWritablePrimary", False)
            except pymongo.errors.PyMongoError:
                return False

    return servers.wait_for(lambda: next((p for p in SHARD_PORTS[shard] if writable(p)), None), 60)


def test_a_run_with_a_member_of_each_shard_down_converges_the_rest_and_names_them(sandbox):
    """shard 01 loses its preferred primary (its first member, where the replica set role
    runs: the next member takes over), shard 02 (primary-secondary-arbiter here) its
    arbiter. Each keeps a majority that can acknowledge majority writes, so the run
    converges what it reaches (here a new chunk size) and names the members it could not."""
    down = {host: PORTS.of_host[host] for host in ("sandbox-shard01-a", "sandbox-shard02-c")}
    for host in down:
        kill_member(sandbox, host)
    try:
        result = run_playbook(
            SITE,
            *SANDBOX,
            "-i",
            "tests/inventories/members-down.yml",
            "-e",
            "mongodb_sharding_chunk_size_mb=64",
            env=env(sandbox),
        )
        counters = recap(result.stdout)
        assert result.returncode == 4, result.stdout[-5000:]  # 4: some hosts were unreachable
        assert {host for host, c in counters.items() if c["unreachable"]} == set(down)
        assert all(c["failed"] == 0 for c in counters.values()), result.stdout[-5000:]
        output = " ".join((result.stdout + result.stderr).split())
        assert "Going on without sandbox-shard01-a, sandbox-shard02-c, which cannot be reached" in output
        for port in down.values():  # the modules' warnings name each member down
            assert re.search(rf":{port} is down \(not reachable or not healthy\)", output), port
        with admin_client(sandbox, PORTS.mongos) as client:
            assert client.config.settings.find_one({"_id": "chunksize"})["value"] == 64
    finally:
        for host in down:
            start_member(sandbox, host)


def app_client(root) -> pymongo.MongoClient:
    """The application account through mongos, with retryable writes and w: majority."""
    return pymongo.MongoClient(
        "127.0.0.1",
        PORTS.mongos,
        username="monitoring_app",
        password=secret(root, "app"),
        authSource="admin",
        retryWrites=True,
        w="majority",
        wTimeoutMS=60000,
        serverSelectionTimeoutMS=30000,
        **tls(root),
    )


class Writer:
    """Inserts numbered documents into a collection from a thread until stopped; records
    the acknowledged numbers and the failures."""

    def __init__(self, collection):
        self.collection = collection
        self.acknowledged: list[int] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._write)
        self._thread.start()

    def _write(self) -> None:
        number = 0
        while not self._stop.is_set():
            try:
                self.collection.insert_one({"_id": number, "at": time.time()})
                self.acknowledged.append(number)
            except pymongo.errors.PyMongoError as error:
                self.failures.append(f"{number}: {error}")
                time.sleep(0.5)
            number += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


def test_the_application_keeps_writing_through_mongos_when_a_shard_primary_dies(sandbox):
    """The application account writes with retryable writes and w: majority through mongos
    while the primary of its database's shard is killed: writes go on once a new primary
    is elected, every acknowledged write is there, and the killed member catches up."""
    with admin_client(sandbox, PORTS.mongos) as admin:
        shard = admin.config.databases.find_one({"_id": "monitoring"})["primary"]
    port = shard_primary_port(sandbox, shard)
    app = app_client(sandbox)
    probe = app.monitoring.failover_probe
    writer = Writer(probe)
    try:
        servers.wait_for(lambda: len(writer.acknowledged) >= 10, 30)
        kill_member(sandbox, HOST_OF_PORT[port])
        killed_at = len(writer.acknowledged)
        servers.wait_for(lambda: len(writer.acknowledged) >= killed_at + 20, 90)
    finally:
        writer.stop()
    acknowledged = writer.acknowledged
    assert shard_primary_port(sandbox, shard) != port
    stored = {doc["_id"] for doc in probe.find({}, {"_id": 1})}
    assert set(acknowledged) <= stored, f"acknowledged but lost: {sorted(set(acknowledged) - stored)[:10]}"
    start_member(sandbox, HOST_OF_PORT[port])
    with admin_client(sandbox, port, directConnection=True, readPreference="secondaryPreferred") as member:
        servers.wait_for(
            lambda: set(acknowledged) <= {doc["_id"] for doc in member.monitoring.failover_probe.find({}, {"_id": 1})},
            60,
        )
    app.close()


# -- day 2: a rolling restart (last: it restarts every process) -------------------------

ROLLING_RESTART = "playbooks/rolling-restart.yml"


def pids(root) -> dict[str, int]:
    return {path.parent.name: int(path.read_text().strip()) for path in root.glob("sandbox-*/mongo[ds].pid")}


def changed_by(output: str, *tasks: str) -> list[str]:
    """The hosts, in order, that the tasks whose titles end with one of tasks changed."""
    hosts = []
    for block in re.split(r"^(?:TASK|RUNNING HANDLER) \[", output, flags=re.MULTILINE)[1:]:
        title, _, body = block.partition("]")
        if title.endswith(tasks):
            hosts += re.findall(r"^changed: \[([^\]]+)\]", body, re.MULTILINE)
    return hosts


def test_a_rolling_restart_restarts_every_process_once_while_the_application_writes(sandbox):
    """Every process once, in order (config servers, each shard with its primary last,
    the router), each shard's primary stepped down before its restart, the balancer off
    meanwhile and back after; the application writes through mongos all along and loses
    nothing. (Its check mode runs in test_site_day2_replica_set.py, inside the upgrade's.)"""
    before = pids(sandbox)
    # The preferred (priority 2) members are primary again after the fault tests.
    preferred = {shard: ports[0] for shard, ports in SHARD_PORTS.items()}
    servers.wait_for(lambda: all(shard_primary_port(sandbox, s) == p for s, p in preferred.items()), 90)
    app = app_client(sandbox)
    probe = app.monitoring.rolling_restart_probe
    writer = Writer(probe)
    try:
        servers.wait_for(lambda: len(writer.acknowledged) >= 10, 30)
        result = run_playbook(ROLLING_RESTART, *SANDBOX, env=env(sandbox))
        at_end = len(writer.acknowledged)
        servers.wait_for(lambda: len(writer.acknowledged) >= at_end + 10, 60)
    finally:
        writer.stop()
    assert result.returncode == 0, result.stdout[-5000:]
    after = pids(sandbox)
    assert sorted(after) == sorted(before)
    assert [host for host in before if after[host] == before[host]] == []
    restarted = changed_by(result.stdout, "Restart mongod", "Restart mongos")
    assert sorted(restarted) == sorted(before)
    assert restarted[0] == "sandbox-cfg-1" and restarted[-1] == "sandbox-mongos-1"
    primaries = [HOST_OF_PORT[port] for port in preferred.values()]
    for primary in primaries:
        shard = [HOST_OF_PORT[port] for port in SHARD_PORTS[f"sandbox-shard-{primary[13:15]}"]]
        assert max(restarted.index(member) for member in shard) == restarted.index(primary)
    # A set's primary is stepped down when its turn comes. Under load an election may move
    # it earlier (CI saw one on a 2-core machine); then that set's last member is a
    # secondary by its turn and needs no step-down, so only a subset is required here.
    stepped = changed_by(result.stdout, "Step this member down if it is its set's primary")
    assert stepped and [host for host in primaries if host in stepped] == stepped
    assert writer.failures == []
    assert probe.count_documents({}) == len(writer.acknowledged)
    with admin_client(sandbox, PORTS.mongos) as admin:
        assert admin.admin.command("balancerStatus")["mode"] == "full"
    app.close()
