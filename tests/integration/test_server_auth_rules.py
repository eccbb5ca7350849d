"""What a mongod with access control lets a client do before and after its first user.

Written against MongoDB 8.0's own rules, so the same tests hold against real binaries
(MONGODB_BIN_DIR) and the stand-in:
- the localhost exception grants only createUser/grantRole on admin (createUser on
  $external), replSetConfigure, replSetGetStatus and addShard
  (src/mongo/db/auth/authorization_session_impl.cpp, _getDefaultPrivileges);
- only a loopback connection gets it (HostAndPort::isLocalHost on the client's address,
  src/mongo/db/auth/authz_session_external_state_server_common.cpp);
- the first user ends it (https://www.mongodb.com/docs/manual/core/localhost-exception/).
"""

from __future__ import annotations

import pymongo
import pytest
from support import servers

SET = "rs-auth"


@pytest.fixture
def secured_member(start_mongod, tmp_path):
    """One uninitiated replica set member with a keyfile (so access control is on),
    listening on loopback and, where this machine has one, a non-loopback address."""
    address = servers.non_loopback_address()
    config = servers.base_config(tmp_path, servers.free_port())
    config["net"]["bindIp"] = ",".join(["127.0.0.1", *([address] if address else [])])
    config["replication"] = {"replSetName": SET}
    config["security"] = {"keyFile": str(servers.write_keyfile(tmp_path / "keyfile"))}
    process = start_mongod(config)
    process.address = address
    return process


def client(process, host: str = "127.0.0.1", **credentials) -> pymongo.MongoClient:
    made = pymongo.MongoClient(host, process.port, directConnection=True, serverSelectionTimeoutMS=5000, **credentials)
    process._clients.append(made)
    return made


def code_of(call) -> int | None:
    try:
        call()
    except pymongo.errors.OperationFailure as error:
        return error.code
    return None


def initiate(process) -> None:
    client(process).admin.command(
        "replSetInitiate", {"_id": SET, "members": [{"_id": 0, "host": f"127.0.0.1:{process.port}"}]}
    )
    servers.wait_for(lambda: client(process).admin.command("hello").get("isWritablePrimary"), 60)


@pytest.mark.parametrize(
    "command",
    [{"replSetGetConfig": 1}, {"usersInfo": 1}, {"listDatabases": 1}, {"getDefaultRWConcern": 1}],
    ids=lambda command: next(iter(command)),
)
def test_localhost_exception_refuses_what_it_does_not_grant(secured_member, command):
    assert code_of(lambda: client(secured_member).admin.command(command)) == 13


def test_localhost_exception_allows_status_initiation_and_the_first_administrator(secured_member):
    anonymous = client(secured_member).admin
    assert code_of(lambda: anonymous.command("replSetGetStatus")) == 94  # allowed, not initiated yet
    initiate(secured_member)
    assert anonymous.command("replSetGetStatus")["set"] == SET
    # grantRole is granted on admin only: a first user with a role elsewhere is refused.
    refused = code_of(
        lambda: anonymous.command("createUser", "app", pwd="app-password-1", roles=[{"role": "readWrite", "db": "x"}])
    )
    assert refused == 13
    anonymous.command("createUser", "admin", pwd="admin-password-1", roles=["root"])
    # The first user closes the exception.
    assert code_of(lambda: anonymous.command("replSetGetStatus")) == 13
    assert code_of(lambda: anonymous.command("createUser", "other", pwd="other-password-1", roles=["root"])) == 13
    admin = client(secured_member, username="admin", password="admin-password-1").admin
    assert admin.command("usersInfo", "admin")["users"][0]["user"] == "admin"
    # An admin-only built-in role exists on admin only (builtin_roles.yml, adminOnly).
    misplaced = [{"role": "clusterMonitor", "db": "monitoring"}]
    assert code_of(lambda: admin.command("createUser", "mon", pwd="mon-password-12", roles=misplaced)) == 31
    assert code_of(lambda: admin.command("createUser", "mon", pwd="mon-password-12", roles=["readAnything"])) == 31


def test_the_exception_needs_a_loopback_connection(secured_member):
    if not secured_member.address:
        pytest.skip("this machine has no non-loopback address")
    remote = client(secured_member, host=secured_member.address).admin
    assert remote.command("ping")["ok"] == 1  # no authentication needed
    assert code_of(lambda: remote.command("replSetGetStatus")) == 13
    assert code_of(lambda: remote.command("createUser", "admin", pwd="admin-password-1", roles=["root"])) == 13
    # The same member over loopback still has the exception.
    assert code_of(lambda: client(secured_member).admin.command("replSetGetStatus")) == 94


def test_apply_ops_needs_its_own_action_as_well_as_each_operations_privileges(secured_member):
    """jstests/auth/applyOps_privilege.js: the applyOps action on the cluster (restore,
    dbAdminAnyDatabase, root) and then each operation's privileges (SERVER-25994)."""
    initiate(secured_member)
    client(secured_member).admin.command("createUser", "admin", pwd="admin-password-1", roles=["root"])
    admin = client(secured_member, username="admin", password="admin-password-1").admin
    admin.command("createUser", "writer", pwd="writer-password-1", roles=["readWriteAnyDatabase"])
    admin.command("createUser", "restorer", pwd="restorer-password-1", roles=["restore"])
    insert = {"applyOps": [{"op": "i", "ns": "monitoring.assets", "o": {"_id": "a1"}}]}
    writer = client(secured_member, username="writer", password="writer-password-1").admin
    # May insert into monitoring.assets, but not run applyOps.
    writer.client.monitoring.assets.insert_one({"_id": "a0"})
    assert code_of(lambda: writer.command(insert)) == 13
    restorer = client(secured_member, username="restorer", password="restorer-password-1").admin
    assert restorer.command(insert)["applied"] == 1
    assert admin.client.monitoring.assets.count_documents({}) == 2
