"""playbooks/site.yml refuses bad input and unusable inventories before it changes a host.

Each case runs site.yml under its own scratch root and proves the run stops in the
first play with a message naming the variable or host, and no host directory created.
The same cases run again with --tags preflight, which must select every check.

A bad variable given with -e is the same on every host, so the input cases run on one
host of each kind (--limit: the config server, a shard member, the router); the rules
that read the whole inventory (ports per machine, voters per set, shards) still read
all of it. The inventory cases run on the whole sandbox.
"""

from __future__ import annotations

import json

import pytest
from support import certificates
from support.ansible import run_playbook
from support.site import SITE, env, host_dirs

BAD_INPUT = (
    ({"mongodb_mongod_cache_size_gb": 100000}, "mongodb_mongod_cache_size_gb is 100000"),
    ({"mongodb_port": "twenty"}, "mongodb_port"),
    ({"mongodb_port": 28101}, "(mongodb_port must be unique per machine)"),
    ({"mongodb_version": "9.9.0"}, "mongodb_version '9.9.0' is not supported"),
    ({"mongodb_mongod_block_compressor": "snapy"}, "mongodb_mongod_block_compressor"),
    ({"mongodb_mongod_profiling_mode": "slowop"}, "mongodb_mongod_profiling_mode"),
    ({"mongodb_bind_ip": ["0.0.0.0"]}, "mongodb_bind_ip"),
    # The sharding, replica set, account and schema declarations go through their
    # modules' own rules (validate_only) in the first play.
    ({"mongodb_sharding_chunk_size_mb": 0}, "chunk_size_mb is 0; MongoDB accepts 1 to 1024"),
    ({"mongodb_sharding_chunk_size_mb": 2048}, "chunk_size_mb is 2048; MongoDB accepts 1 to 1024"),
    (
        {"mongodb_sharding_collections": [{"namespace": "monitoring.assets", "key": [{"_id": 2}]}]},
        'shard key field _id is 2; MongoDB accepts 1 or "hashed"',
    ),
    (
        {
            "mongodb_monitoring_schema_extra_collections": [
                {
                    "name": "events",
                    "timeseries": {"time_field": "ts", "granularity": "minutes", "bucket_max_span_seconds": 60},
                }
            ]
        },
        "cannot be set beside granularity",
    ),
    (
        {
            "mongodb_users_accounts": [
                {"name": "reporting", "password_var": "mongodb_app_password", "roles": ["readAnything"]}
            ]
        },
        "role readAnything@admin is not a MongoDB built-in role",
    ),
    (
        {"mongodb_replset_member": {"hidden": True, "priority": 1}},
        "a hidden member must have priority 0",
    ),
    (
        {"mongodb_users_accounts": [{"name": "x", "password_var": "vault_missing_password", "roles": []}]},
        "vault_missing_password is missing",
    ),
    ({"mongodb_admin_password": "short"}, "mongodb_admin_password must be at least 12 characters"),
    # Every password has the same policy, named by its variable (issue 13).
    ({"mongodb_app_password": "x"}, "mongodb_app_password must be at least 12 characters"),
    # One rule per message: a bad window is not reported as the chunk size.
    (
        {"mongodb_sharding_balancer_window": {"start": "25:00", "stop": "05:00"}},
        "balancer_window.start is '25:00'; give a time as HH:MM",
    ),
    (
        {"mongodb_mongod_slow_op_sample_rate": 2},
        "mongodb_mongod_slow_op_sample_rate is 2: it must be between 0 and 1.",
    ),
)
# Messages of rules no case breaks twice: one rule's message never stands in for another's.
OTHER_RULES = ("chunk_size_mb is", "max_incoming_connections is")


ONE_OF_EACH_KIND = ("--limit", "sandbox-cfg-1,sandbox-shard01-a,sandbox-mongos-1")


def _refused_in_the_first_play(tmp_path, extra_vars: dict, message: str, *args: str) -> None:
    result = run_playbook(SITE, "-e", json.dumps(extra_vars), *ONE_OF_EACH_KIND, *args, env=env(tmp_path))
    output = result.stdout + result.stderr
    private_key = extra_vars.get("mongodb_tls_private_key")
    if private_key:
        assert private_key.splitlines()[1] not in output, "the private key appears in the output"
    assert result.returncode != 0, output[-3000:]
    assert message in " ".join(output.split()), output[-3000:]
    for other in OTHER_RULES:
        if other.split()[0] not in json.dumps(extra_vars):
            assert other not in output, f"another rule's message stands in for this one: {other}"
    assert "PLAY [Tune the operating system]" not in output, "the run went past the first play"
    assert host_dirs(tmp_path) == [], "a host was changed before the input was checked"


@pytest.mark.parametrize(("extra_vars", "message"), BAD_INPUT)
def test_bad_input_stops_before_any_change(tmp_path, extra_vars, message):
    _refused_in_the_first_play(tmp_path, extra_vars, message)


@pytest.mark.parametrize(("extra_vars", "message"), BAD_INPUT)
def test_a_preflight_tagged_run_refuses_the_same_input(tmp_path, extra_vars, message):
    _refused_in_the_first_play(tmp_path, extra_vars, message, "--tags", "preflight")


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("tests/inventories/even-voters.yml", "replica set sandbox-shard-01"),
        ("tests/inventories/unreachable-member.yml", "sandbox-shard01-d"),
    ],
)
def test_inventory_problems_stop_before_any_change(tmp_path, layer, message):
    result = run_playbook(SITE, "-i", "inventories/sandbox", "-i", layer, env=env(tmp_path))
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert message in output, output[-3000:]
    if "even" in layer:
        assert "has 2 voting members: use an odd number" in output
    else:
        assert "UNREACHABLE" in output
    assert host_dirs(tmp_path) == []


def test_no_binaries_stops_before_any_change_and_says_what_to_set(tmp_path):
    # No MONGODB_BIN_DIR, no MONGODB_ARCHIVE, and an official archive that cannot be
    # reached (a closed local port stands in for a machine without network).
    env = {"MONGODB_SANDBOX_ROOT": str(tmp_path), "MONGODB_BIN_DIR": "", "MONGODB_ARCHIVE": ""}
    result = run_playbook(SITE, "-e", "mongodb_install_archive_base_url=http://127.0.0.1:9/linux", env=env)
    output = " ".join(result.stdout.split())
    assert result.returncode != 0
    assert "No MongoDB binaries are available for this run" in output
    # It says exactly what was written: the fact cache, and the sandbox's secrets (issue 13).
    assert "Nothing was changed on the hosts; the controller wrote only Ansible's fact cache" in output
    assert f"the sandbox secrets generated under {tmp_path}/secrets, kept for the next run" in output
    assert "Set MONGODB_BIN_DIR" in output and "MONGODB_ARCHIVE" in output
    assert host_dirs(tmp_path) == []
    assert not list(tmp_path.glob("downloads"))


# -- the operator's certificates (mongodb_tls) -----------------------------------------


@pytest.fixture(scope="module")
def operator_pki(tmp_path_factory):
    """The operator's CA and the certificates of the cases: a good one (it names
    127.0.0.1, the address and advertised host of every sandbox process), and one for
    each rule it can break."""
    directory = tmp_path_factory.mktemp("pki")
    ca = certificates.authority(directory, "operator-ca")
    stranger = certificates.authority(directory, "stranger-ca")
    good = certificates.issue_pem(ca, "sandbox", ("127.0.0.1",), valid_days=90)
    return {
        "ca": certificates.ca_pem(ca),
        "good": good,
        "wrong name": certificates.issue_pem(ca, "sandbox", ("db.example.internal",), valid_days=90),
        "expired": certificates.issue_pem(ca, "sandbox", ("127.0.0.1",), valid_days=-2),
        "key of another": certificates.Issued(
            good.certificate, certificates.issue_pem(ca, "other", valid_days=90).private_key, 0
        ),
        "another CA": certificates.issue_pem(stranger, "sandbox", ("127.0.0.1",), valid_days=90),
    }


def operator_tls(pki: dict, case: str) -> dict:
    issued = pki[case]
    return {
        "mongodb_tls_mode": "requireTLS",
        "mongodb_tls_certificate_source": "operator",
        "mongodb_tls_ca_certificate": pki["ca"],
        "mongodb_tls_certificate": issued.certificate,
        "mongodb_tls_private_key": issued.private_key,
    }


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong name", "does not name 127.0.0.1 among its subject alternative names (it has db.example.internal)"),
        ("expired", "expired on"),
        ("key of another", "and its private key do not match"),
        ("another CA", "does not chain to the CA"),
    ],
)
def test_a_bad_certificate_stops_before_any_change_and_its_key_is_not_shown(tmp_path, operator_pki, case, message):
    extra_vars = operator_tls(operator_pki, case)
    _refused_in_the_first_play(tmp_path, extra_vars, message)


def test_the_certificate_checks_let_a_good_certificate_through(tmp_path, operator_pki):
    """The checks of the first play alone (--tags preflight), with the good certificate."""
    result = run_playbook(
        SITE,
        "-e",
        json.dumps(operator_tls(operator_pki, "good")),
        *ONE_OF_EACH_KIND,
        "--tags",
        "preflight",
        env=env(tmp_path),
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Check the TLS certificate, key and CA of this process" in output
    assert operator_pki["good"].private_key.splitlines()[1] not in output
