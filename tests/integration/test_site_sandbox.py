"""playbooks/site.yml on one shared sandbox: secrets, privileges, check mode, idempotence.

The sandbox runs on MONGODB_BIN_DIR's binaries, or the stand-in when it is unset, under
a scratch MONGODB_SANDBOX_ROOT, with the advertised-address layer where this machine has
a non-loopback address (tests/support/site.py). Its fixed ports (28017-28203) must be free.
It runs with TLS required (one variable, mongodb_tls_mode), its certificates issued by
the project CA, so every test below also proves that each part speaks TLS. The tests that
move primaries, rotate the certificates or restart the processes
(test_site_sandbox_faults.py) run on the same sandbox after these
(tests/integration/conftest.py).
"""

from __future__ import annotations

import concurrent.futures
import datetime
import json
import re
import subprocess

import pymongo
import pytest
import yaml
from support import certificates, servers
from support.ansible import PROJECT, recap, run_molecule, run_playbook
from support.sandbox import PORTS, SANDBOX, admin_client, tls
from support.site import ADVERTISED_ADDRESS, SITE, created_users_on, env, refused_for_privileges


def test_no_secret_reaches_the_output_at_vvv(sandbox):
    output = (sandbox / "first-run.log").read_text()
    secrets = {path.name: path.read_text().split()[0] for path in (sandbox / "secrets").iterdir()}
    assert set(secrets) == {"admin", "app", "backup", "monitor", "keyfile"}
    for name, value in secrets.items():
        assert value not in output, f"the {name} secret appears in the -vvv output"
        assert value[:24] not in output, f"a part of the {name} secret appears in the -vvv output"


def test_sandbox_processes_answer_and_refuse_anonymous_clients(sandbox):
    for port in PORTS.all:
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


def _ping_refused(port: int, options: dict) -> bool:
    """Whether a ping to port with these client options fails."""
    client = pymongo.MongoClient("127.0.0.1", port, directConnection=True, serverSelectionTimeoutMS=1500, **options)
    try:
        client.admin.command("ping")
    except pymongo.errors.PyMongoError:
        return True
    finally:
        client.close()
    return False


def test_every_port_refuses_plain_text_and_clients_without_a_certificate_of_the_ca(sandbox, tmp_path):
    stranger_ca = certificates.authority(tmp_path, "stranger-ca")
    stranger = tmp_path / "stranger.pem"
    certificates.issue(stranger_ca, stranger, "stranger")
    without_certificate = {key: value for key, value in tls(sandbox).items() if key != "tlsCertificateKeyFile"}
    cases = {
        "plain text": {},
        "TLS, no client certificate": without_certificate,
        "a certificate of another CA": {**tls(sandbox), "tlsCertificateKeyFile": str(stranger)},
    }
    # Side by side: a refused client fails only once its server selection times out.
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(cases) * len(PORTS.all)) as pool:
        refused = {
            (case, port): pool.submit(_ping_refused, port, options)
            for case, options in cases.items()
            for port in PORTS.all
        }
        assert [key for key, answer in refused.items() if not answer.result()] == []
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


def test_a_storage_layout_other_than_the_data_was_created_with_is_refused_on_every_mongod(sandbox):
    """MongoDB cannot change directoryForIndexes on existing data. The first play reads the
    layout each data directory records (storage.bson), for all the mongods of a machine in
    one read, and refuses the run before anything changes, naming each data directory."""
    configs = {path: path.read_text() for path in sandbox.glob("sandbox-*/mongod.conf")}
    assert len(configs) == 7
    result = run_playbook(SITE, *SANDBOX, "-e", '{"mongodb_mongod_directory_for_indexes": false}', env=env(sandbox))
    assert result.returncode == 2, result.stdout[-3000:]
    output = " ".join(result.stdout.split())
    for config in configs:
        assert f"{config.parent}/data holds data created with directoryForIndexes=true" in output, config.parent.name
    assert "PLAY [Tune the operating system]" not in output
    assert {path: path.read_text() for path in configs} == configs


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
    with admin_client(sandbox, PORTS.mongos) as client:
        assert client.admin.command("balancerStatus")["mode"] == "full"
        assert client.mongodb_backup.locks.find_one({"_id": "balancer"})["held"] is False


def test_the_sharding_step_leaves_the_balancer_off_while_a_backup_holds_it(sandbox):
    with admin_client(sandbox, PORTS.mongos) as client:
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
