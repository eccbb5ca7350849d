"""From keyfile to x.509 membership authentication on a running replica set with TLS
(tests/inventories/x509-transition): one mode per site.yml run, keyFile -> sendKeyFile
-> sendX509 -> x509, each applied without a restart while the set keeps a primary and
replicates; a jump of more than one step is refused before any change.

Runs on MONGODB_BIN_DIR's mongod, or the stand-in when it is unset
(tests/standin/membership.py).
"""

from __future__ import annotations

import pymongo
import pytest
from support import servers
from support.ansible import recap, run_playbook
from support.site import SITE, env

INVENTORY = ("-i", "tests/inventories/x509-transition")
PORTS = (28321, 28322, 28323)
HOSTS = ("x509-1", "x509-2", "x509-3")


def run(root, *args: str):
    return run_playbook(SITE, *INVENTORY, *args, env=env(root))


def admin(root, port: int, **options) -> pymongo.MongoClient:
    password = (root / "secrets" / "admin").read_text().split()[0]
    [certificate] = (root / "x509-1" / "tls").glob("mongod-*.pem")
    return pymongo.MongoClient(
        "127.0.0.1",
        port,
        username="admin",
        password=password,
        serverSelectionTimeoutMS=10000,
        tls=True,
        tlsCAFile=str(root / "tls-ca" / "ca.crt"),
        tlsCertificateKeyFile=str(certificate),
        **options,
    )


def modes(root) -> dict[int, str]:
    found = {}
    for port in PORTS:
        with admin(root, port, directConnection=True) as client:
            found[port] = client.admin.command({"getParameter": 1, "clusterAuthMode": 1})["clusterAuthMode"]
    return found


def pids(root) -> dict[str, int]:
    return {host: int((root / host / "mongod.pid").read_text()) for host in HOSTS}


def replicates(root, document_id: str) -> None:
    """Every member is PRIMARY or SECONDARY, and a w: majority write through the set is
    acknowledged: the members still talk to each other."""
    with admin(root, PORTS[0], replicaSet="x509-rs") as client:

        def healthy() -> bool:
            states = sorted(m["stateStr"] for m in client.admin.command("replSetGetStatus")["members"])
            return states == ["PRIMARY", "SECONDARY", "SECONDARY"]

        servers.wait_for(healthy, 60)
        collection = client.transition.check.with_options(
            write_concern=pymongo.WriteConcern("majority", wtimeout=30000)
        )
        collection.insert_one({"_id": document_id})


@pytest.fixture(scope="module")
def converged(tmp_path_factory):
    root = tmp_path_factory.mktemp("x509 sandbox")  # a space in every path the roles write
    try:
        result = run(root)
        assert result.returncode == 0, result.stdout[-5000:]
        yield root
    finally:  # also after a failed converge: its processes would hold the fixed ports
        run_playbook("playbooks/sandbox-stop.yml", *INVENTORY, env=env(root))


def test_a_jump_past_the_next_mode_is_refused_before_any_change(converged):
    configs = {host: (converged / host / "mongod.conf").read_text() for host in HOSTS}
    result = run(converged, "-e", "mongodb_cluster_auth_mode=x509")
    assert result.returncode == 2, result.stdout[-3000:]
    output = " ".join(result.stdout.split())
    assert "mongodb_cluster_auth_mode is x509 on x509-1, which runs keyFile" in output
    assert "so this run can set keyFile or sendKeyFile. Nothing was changed." in output
    assert {host: (converged / host / "mongod.conf").read_text() for host in HOSTS} == configs
    assert set(modes(converged).values()) == {"keyFile"}


def test_three_runs_move_the_set_from_keyfile_to_x509_without_a_restart(converged):
    before = pids(converged)
    replicates(converged, "keyFile")
    for step in ("sendKeyFile", "sendX509", "x509"):
        result = run(converged, "-e", f"mongodb_cluster_auth_mode={step}")
        assert result.returncode == 0, result.stdout[-5000:]
        assert set(modes(converged).values()) == {step}, step
        for host in HOSTS:
            assert f"clusterAuthMode: {step}" in (converged / host / "mongod.conf").read_text(), host
        assert pids(converged) == before, f"{step}: a process restarted"
        replicates(converged, step)
    again = run(converged, "-e", "mongodb_cluster_auth_mode=x509")
    assert again.returncode == 0, again.stdout[-3000:]
    assert all(c["changed"] == 0 for c in recap(again.stdout).values()), again.stdout[-3000:]
    # A member restarted now reads x509 from its file and rejoins with its certificate.
    pid = before["x509-3"]
    servers.terminate(pid)
    started = servers.run_binary("mongod", "--config", str(converged / "x509-3" / "mongod.conf"))
    assert started.returncode == 0, started.stdout + started.stderr
    servers.wait_for(lambda: modes(converged)[PORTS[2]] == "x509", 30)
    replicates(converged, "restarted")
