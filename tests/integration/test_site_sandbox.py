"""playbooks/site.yml on one shared sandbox: secrets, privileges, check mode, idempotence.

The sandbox runs on MONGODB_BIN_DIR's binaries, or the stand-in when it is unset, under
a scratch MONGODB_SANDBOX_ROOT, with the advertised-address layer where this machine has
a non-loopback address (tests/support/site.py). Its fixed ports (28017-28203) must be free.
It runs with TLS required (one variable, mongodb_tls_mode), its certificates issued by
the project CA, so every test below also proves that each part speaks TLS.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import socket
import ssl
import subprocess
import threading
import time

import pymongo
import pytest
import yaml
from cryptography import x509
from support import certificates, servers
from support.ansible import PROJECT, recap, run_molecule, run_playbook
from support.site import ADVERTISED_ADDRESS, SANDBOX_INVENTORY, SITE, created_users_on, env, refused_for_privileges

MONGOS_PORT = 28017
ALL_PORTS = (28017, 28019, 28101, 28102, 28103, 28201, 28202, 28203)
# The sandbox of this module: TLS required on every port, with the project CA.
SANDBOX = (*SANDBOX_INVENTORY, "-e", "mongodb_tls_mode=requireTLS")
SHARD_PORTS = {"sandbox-shard-01": (28101, 28102, 28103), "sandbox-shard-02": (28201, 28202, 28203)}
HOST_OF_PORT = {
    port: f"sandbox-shard{shard[-2:]}-{'abc'[index]}"
    for shard, ports in SHARD_PORTS.items()
    for index, port in enumerate(ports)
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A provisioned sandbox (first run at -vvv, output kept); stopped after this module.

    `make integration` distributes whole files over pytest-xdist workers (loadfile), so
    this module's tests share one worker and one sandbox.
    """
    root = tmp_path_factory.mktemp("sandbox")
    try:
        result = run_playbook(SITE, "-vvv", *SANDBOX, env=env(root))
        assert result.returncode == 0, result.stdout[-5000:] + result.stderr
        (root / "first-run.log").write_text(result.stdout + result.stderr)
        for log in root.glob("sandbox-*/data/" + servers.COMMAND_LOG):
            log.with_name("first-run-commands.jsonl").write_text(log.read_text())
        yield root
    finally:  # also after a failed converge: its processes would hold the fixed ports
        run_playbook("playbooks/sandbox-stop.yml", *SANDBOX, env=env(root))


def test_no_secret_reaches_the_output_at_vvv(sandbox):
    output = (sandbox / "first-run.log").read_text()
    secrets = {path.name: path.read_text().split()[0] for path in (sandbox / "secrets").iterdir()}
    assert set(secrets) == {"admin", "app", "backup", "monitor", "keyfile"}
    for name, value in secrets.items():
        assert value not in output, f"the {name} secret appears in the -vvv output"
        assert value[:24] not in output, f"a part of the {name} secret appears in the -vvv output"


def tls(root) -> dict:
    """What a client of this sandbox presents: TLS, trusting the project CA, with a
    certificate that CA issued (the router's own; it names 127.0.0.1)."""
    [certificate] = (root / "sandbox-mongos-1" / "tls").glob("mongos-*.pem")
    return {"tls": True, "tlsCAFile": str(root / "tls-ca" / "ca.crt"), "tlsCertificateKeyFile": str(certificate)}


def test_sandbox_processes_answer_and_refuse_anonymous_clients(sandbox):
    for port in ALL_PORTS:
        client = pymongo.MongoClient(
            "127.0.0.1", port, directConnection=True, serverSelectionTimeoutMS=5000, **tls(sandbox)
        )
        try:
            assert client.admin.command("ping")["ok"] == 1
            with pytest.raises(pymongo.errors.OperationFailure) as refused:
                client.admin.command("listDatabases")
            assert refused.value.code == 13
        finally:
            client.close()


def test_every_port_refuses_plain_text_and_clients_without_a_certificate_of_the_ca(sandbox, tmp_path):
    stranger_ca = certificates.authority(tmp_path, "stranger-ca")
    stranger = tmp_path / "stranger.pem"
    certificates.issue(stranger_ca, stranger, "stranger")
    for options in (
        {},  # plain text
        {**tls(sandbox), "tlsCertificateKeyFile": None},  # TLS, no client certificate
        {**tls(sandbox), "tlsCertificateKeyFile": str(stranger)},  # a certificate of another CA
    ):
        options = {key: value for key, value in options.items() if value is not None}
        for port in ALL_PORTS:
            client = pymongo.MongoClient(
                "127.0.0.1", port, directConnection=True, serverSelectionTimeoutMS=1500, **options
            )
            try:
                with pytest.raises(pymongo.errors.PyMongoError):
                    client.admin.command("ping")
            finally:
                client.close()
    # The key sits beside its certificate, readable by the service account only.
    for path in sandbox.glob("sandbox-*/tls/*.pem"):
        expected = 0o644 if path.name == "ca.pem" else 0o400
        assert path.stat().st_mode & 0o777 == expected, path


def test_check_mode_on_a_provisioned_sandbox_changes_and_writes_nothing(sandbox):
    logs = sorted(sandbox.glob("sandbox-*/data/" + servers.COMMAND_LOG))
    sizes = {log: log.stat().st_size for log in logs}
    result = run_playbook(SITE, "--check", "--diff", *SANDBOX, env=env(sandbox))
    assert result.returncode == 0, result.stdout[-5000:]
    assert all(counters["changed"] == 0 for counters in recap(result.stdout).values()), result.stdout[-3000:]
    for log in logs:
        new_lines = log.read_text()[sizes[log] :].splitlines()
        assert [line for line in new_lines if json.loads(line)["write"]] == [], log


@pytest.mark.skipif(not servers.using_standin(), reason="reads the stand-in's command log")
def test_first_run_needed_no_privilege_a_real_server_refuses(sandbox):
    """Administrators created and sets initiated through the localhost exception alone,
    over loopback on each primary's own machine, with nothing refused for privileges (13)."""
    logs = sorted(sandbox.glob("sandbox-*/data/first-run-commands.jsonl"))
    assert refused_for_privileges(logs) == []
    assert {"sandbox-cfg-1", "sandbox-shard01-a", "sandbox-shard02-a"} <= created_users_on(logs)


def test_second_run_changes_nothing(sandbox):
    result = run_playbook(SITE, *SANDBOX, env=env(sandbox))
    assert result.returncode == 0, result.stdout[-5000:]
    counters = recap(result.stdout)
    assert len(counters) == 8
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in counters.values())


def test_a_controller_without_the_project_ca_is_refused_before_it_makes_another(sandbox):
    """The hosts trust the project CA; a controller that lost mongodb_tls_ca_dir would
    make a new CA whose certificates the running processes refuse."""
    kept = sandbox / "tls-ca-kept"
    (sandbox / "tls-ca").rename(kept)
    try:
        result = run_playbook(SITE, *SANDBOX, env=env(sandbox))
        assert result.returncode == 2, result.stdout[-3000:]
        output = " ".join(result.stdout.split())
        assert "which this run would no longer trust: the project CA in mongodb_tls_ca_dir" in output
        assert "is missing; restore that directory (ca.key, ca.crt) from backup" in output
        assert not (sandbox / "tls-ca").exists()
    finally:
        kept.rename(sandbox / "tls-ca")


def test_the_molecule_verifier_passes_on_the_converged_sandbox(sandbox):
    """The scenario's testinfra checks (molecule/sandbox/tests) against this sandbox, before
    any test below moves a primary or changes a setting: the suite converges once."""
    result = run_molecule(
        "verify",
        env={
            "MONGODB_VERIFY_SANDBOX_ROOT": str(sandbox),
            "MONGODB_TEST_ADVERTISED_ADDRESS": ADVERTISED_ADDRESS or "",
            "MONGODB_SANDBOX_PORT_OFFSET": "0",
            "MONGODB_VERIFY_TLS": "1",
        },
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Verifier completed successfully" in output
    assert re.search(r"= [1-9][0-9]* passed, [0-9]+ skipped in ", output), output[-3000:]


# -- health ----------------------------------------------------------------------------------


def test_the_health_check_of_the_converged_sandbox_is_green_and_fail_mode_fails(sandbox, tmp_path):
    """Every process of the stricter layout (advertised addresses, an arbiter) as the
    monitoring account, with its schedule written as a cron entry; then, with a disk
    threshold no filesystem meets, it fails and names what it found, and the run without
    a schedule removes the entry."""
    fast = ("-e", "mongodb_health_cache_sample_seconds=1")
    cron_file = tmp_path / "cron.d" / "mongodb-health"
    cron_file.parent.mkdir()
    schedule = ("-e", "mongodb_health_cron_schedule='*/5 * * * *'", "-e", f"mongodb_health_cron_file={cron_file}")
    green = run_playbook("playbooks/health.yml", *SANDBOX, *fast, *schedule, env=env(sandbox))
    assert green.returncode == 0, green.stdout[-3000:]
    assert "ALERT" not in green.stdout and "does not answer" not in green.stdout
    for check in ("connections", "slow_operations", "replication_lag", "disk", "cache_hit_ratio", "unused_indexes"):
        assert check in green.stdout
    [entry] = [line for line in cron_file.read_text().splitlines() if line and not line.startswith("#")]
    assert entry.startswith("*/5 * * * * root cd ") and "ansible-playbook -i " in entry
    assert f"-i {PROJECT / 'inventories' / 'sandbox'} " in entry and " playbooks/health.yml " in entry
    red = run_playbook(
        "playbooks/health.yml",
        *SANDBOX,
        *fast,
        "-e",
        "mongodb_health_max_disk_ratio=0",
        "-e",
        f"mongodb_health_cron_file={cron_file}",
        env=env(sandbox),
    )
    assert red.returncode != 0
    assert "the data filesystem is" in red.stdout and "alert(s)" in red.stdout
    assert not cron_file.exists()  # the cron module removes a cron file left empty


# -- the applications' connection profile ----------------------------------------------


def test_the_connection_profile_writes_with_ingestion_and_reads_with_the_dashboard_profile(sandbox, tmp_path):
    """As the application account, with the rendered URIs: the ingestion profile's write
    concern and the dashboard's read preference are what the driver uses. Check mode
    writes nothing and, with secrets, shows no password in its diff."""
    profile_dir = tmp_path / "with-secrets"

    def render_with_secrets(*flags: str):
        return run_playbook(
            "playbooks/connection-profile.yml",
            *SANDBOX,
            *flags,
            "-e",
            f"profile_dir={profile_dir}",
            "-e",
            "profile_include_secrets=true",
            env=env(sandbox),
        )

    checked = render_with_secrets("--check", "--diff")
    assert checked.returncode == 0, checked.stdout[-3000:]
    assert recap(checked.stdout)["localhost"]["changed"] > 0 and not profile_dir.exists()
    assert not (sandbox / "tls-ca" / "monitoring_app.key").exists()  # nor the application's certificate
    rendered = render_with_secrets()
    assert rendered.returncode == 0, rendered.stdout[-3000:]
    profile = yaml.safe_load((profile_dir / "mongodb-connection.yml").read_text())
    modes = {path.name: oct(path.stat().st_mode & 0o777) for path in profile_dir.iterdir()}
    # The CA certificate is public; the files with the password and the client key are not.
    assert modes == {
        "mongodb-connection.env": "0o600",
        "mongodb-connection.yml": "0o600",
        "client.pem": "0o600",
        "ca.pem": "0o644",
    }
    assert profile["tls"] == {
        "ca_file": str(profile_dir / "ca.pem"),
        "certificate_key_file": str(profile_dir / "client.pem"),
    }
    assert profile["password"] not in rendered.stdout + rendered.stderr + checked.stdout + checked.stderr
    credentials = {"username": profile["username"], "password": profile["password"]}
    with pymongo.MongoClient(profile["profiles"]["ingestion"]["uri"], **credentials) as ingestion:
        assert ingestion.write_concern.document == {"w": 1, "j": False, "wtimeout": 5000}
        assert ingestion.options.pool_options.max_pool_size == 50
        ingestion.monitoring.assets.insert_one({"_id": "profile-check", "asset_type": "vm", "data": {}})
    with pymongo.MongoClient(profile["profiles"]["dashboard"]["uri"], **credentials) as dashboard:
        assert (dashboard.read_preference.mongos_mode, dashboard.read_preference.max_staleness) == (
            "secondaryPreferred",
            90,
        )
        # A w: 1 write reaches the secondaries a moment later.
        servers.wait_for(lambda: dashboard.monitoring.assets.find_one({"_id": "profile-check"}), 30)
    public_dir = tmp_path / "without-secrets"
    run_playbook("playbooks/connection-profile.yml", *SANDBOX, "-e", f"profile_dir={public_dir}", env=env(sandbox))
    assert "\nMONGODB_PASSWORD=" not in (public_dir / "mongodb-connection.env").read_text()
    assert "password" not in yaml.safe_load((public_dir / "mongodb-connection.yml").read_text())


# -- backups of the sharded cluster --------------------------------------------------------


def test_a_sharded_backup_dumps_each_set_and_puts_the_balancer_back(sandbox):
    """With the balancer held off meanwhile (recorded in mongodb_backup.locks), each replica
    set is dumped from one member; the manifest says they are not one cluster-wide instant."""
    ran = subprocess.run(
        [str(sandbox / "backup" / "mongodb-backup"), "backup"], capture_output=True, timeout=300, check=False
    )
    log = (sandbox / "backup" / "mongodb-backup.log").read_text()
    assert ran.returncode == 0, log[-3000:]
    [name] = sorted(path.name for path in (sandbox / "backups").glob("[0-9]*T*Z"))[-1:]
    manifest = json.loads((sandbox / "backups" / name / "manifest.json").read_text())
    assert (manifest["kind"], manifest["verified"]) == ("sharded", True)
    assert set(manifest["sets"]) == {"sandbox-cfg", "sandbox-shard-01", "sandbox-shard-02"}
    assert "not one cluster-wide instant" in manifest["note"]
    assert "balancer stopped (it was full)" in log and "balancer started again (full)" in log
    with admin_client(sandbox) as client:
        assert client.admin.command("balancerStatus")["mode"] == "full"
        assert client.mongodb_backup.locks.find_one({"_id": "balancer"})["held"] is False


def test_the_sharding_step_leaves_the_balancer_off_while_a_backup_holds_it(sandbox):
    with admin_client(sandbox) as client:
        client.admin.command("balancerStop")
        until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
        client.mongodb_backup.locks.update_one(
            {"_id": "balancer"}, {"$set": {"held": True, "by": "a test", "found": "full", "until": until}}, upsert=True
        )
        try:
            result = run_playbook(SITE, *SANDBOX, "--tags", "sharding", env=env(sandbox))
            assert result.returncode == 0, result.stdout[-3000:]
            # A module warning goes to stderr.
            assert "the balancer stays off: a backup on a test holds it" in " ".join(result.stderr.split())
            assert client.admin.command("balancerStatus")["mode"] == "off"
        finally:
            client.mongodb_backup.locks.update_one({"_id": "balancer"}, {"$set": {"held": False}})
            client.admin.command("balancerStart")


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
    hosts = {MONGOS_PORT: "sandbox-mongos-1", 28019: "sandbox-cfg-1", **HOST_OF_PORT}
    arbiters = ["sandbox-shard02-c"] if ADVERTISED_ADDRESS else []
    before = {port: presented_serial(sandbox, port) for port in hosts}
    pids_before = pids(sandbox)
    with admin_client(sandbox, maxPoolSize=1) as opened_before:
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


def secret(root, name: str) -> str:
    return (root / "secrets" / name).read_text().split()[0]


def admin_client(root, port: int = MONGOS_PORT, **options) -> pymongo.MongoClient:
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
    down = {"sandbox-shard01-a": 28101, "sandbox-shard02-c": 28203}
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
        with admin_client(sandbox) as client:
            assert client.config.settings.find_one({"_id": "chunksize"})["value"] == 64
    finally:
        for host in down:
            start_member(sandbox, host)


def app_client(root) -> pymongo.MongoClient:
    """The application account through mongos, with retryable writes and w: majority."""
    return pymongo.MongoClient(
        "127.0.0.1",
        MONGOS_PORT,
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
    with admin_client(sandbox) as admin:
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
    with admin_client(sandbox) as admin:
        assert admin.admin.command("balancerStatus")["mode"] == "full"
    app.close()
