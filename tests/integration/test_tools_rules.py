"""mongodump and mongorestore as the backup role runs them, against replica set members.

The tools come from MONGODB_TOOLS_BIN_DIR (MongoDB Database Tools 100.10 or newer) or are
the stand-in's (tests/standin/tools.py); the servers from MONGODB_BIN_DIR or the
stand-in. The tests assert only what the project's scripts rely on: the command lines,
the refusals and their words, exit codes 0 and 1, the per-collection and summary log
lines, and what a restore leaves on the server.
"""

from __future__ import annotations

import re

import bson
import pymongo
import pytest
import yaml
from support import certificates, servers

DOCUMENTS = {"assets": [{"_id": f"host-{n}", "type": "server"} for n in range(3)], "events": [{"_id": 1}, {"_id": 2}]}


@pytest.fixture
def member(start_mongod, tmp_path):
    """Start a one-member replica set under a name: (process, primary client)."""

    def start(name: str, **extra) -> tuple[servers.MongoProcess, pymongo.MongoClient]:
        root = tmp_path / name
        config = {**servers.base_config(root, servers.free_port()), "replication": {"replSetName": name}, **extra}
        process = start_mongod(config, name=f"{name}.conf")
        return process, servers.initiate_single_member(process, name)

    return start


@pytest.fixture
def source(member):
    process, client = member("source")
    for name, documents in DOCUMENTS.items():
        client.monitoring[name].insert_many(documents)
    client.monitoring.assets.create_index("type", name="type_1")
    return process, client


def dump_archive(process, path, *extra) -> str:
    dumped = servers.run_tool("mongodump", f"--uri={process.uri}", "--oplog", f"--archive={path}", "--gzip", *extra)
    assert dumped.returncode == 0, dumped.stderr
    return dumped.stderr


def restore(process, *args):
    return servers.run_tool("mongorestore", f"--uri={process.uri}", *args)


def ids(collection) -> list:
    return [document["_id"] for document in collection.find({}, {"_id": 1})]


def counted(log: str, verb: str) -> dict[str, int]:
    """{namespace: documents} from "done dumping" or "finished restoring" lines; older
    tools write the namespace bare, 100.16 and newer in backquotes."""
    return {match[0]: int(match[1]) for match in re.findall(rf"{verb} `?([\w.$]+)`? \((\d+) documents?", log)}


@pytest.mark.parametrize(
    ("tool", "args", "words"),
    [
        (
            "mongodump",
            ["--oplog", "--db=monitoring", "--archive={tmp}/x.gz"],
            "--oplog mode only supported on full dumps",
        ),
        ("mongodump", ["--bogus"], "error parsing command line options: unknown option `bogus`"),
        # Only --ssl* spellings and --tlsInsecure are flags; tls* options go in the URI.
        ("mongodump", ["--tls"], "error parsing command line options: unknown option `tls`"),
        ("mongodump", ["--tlsCAFile=ca.pem"], "error parsing command line options: unknown option `tlsCAFile`"),
        ("mongorestore", ["--oplogReplay", "--nsInclude=monitoring.*", "--archive={tmp}/x.gz"], "with includes"),
        ("mongorestore", ["--oplogReplay", "--db=monitoring", "{tmp}"], "cannot use --oplogReplay with includes"),
        ("mongorestore", ["--oplogReplay", "--oplogFile={tmp}/o.bson", "--archive={tmp}/x.gz"], "--oplogFile with"),
        ("mongorestore", ["--oplogLimit=1:1", "{tmp}"], "cannot use --oplogLimit without --oplogReplay enabled"),
    ],
)
def test_the_combinations_the_tools_refuse(source, tmp_path, tool, args, words):
    process, _ = source
    result = servers.run_tool(tool, f"--uri={process.uri}", *(arg.format(tmp=tmp_path) for arg in args))
    assert result.returncode == 1, result.stderr
    assert words in result.stderr


def test_a_full_dump_with_its_oplog_restores_and_both_logs_count_each_collection(source, member, tmp_path):
    process, _ = source
    archive = tmp_path / "full.gz"
    dumped = dump_archive(process, archive)
    assert counted(dumped, "done dumping") == {"monitoring.assets": 3, "monitoring.events": 2}
    assert re.search(r"dumped \d+ oplog entr", dumped)

    target, target_client = member("target")
    restored = restore(target, f"--archive={archive}", "--gzip", "--drop", "--oplogReplay", "--stopOnError")
    assert restored.returncode == 0, restored.stderr
    assert counted(restored.stderr, "finished restoring") == {"monitoring.assets": 3, "monitoring.events": 2}
    assert "5 document(s) restored successfully. 0 document(s) failed to restore." in restored.stderr
    assert sorted(ids(target_client.monitoring.assets)) == [f"host-{n}" for n in range(3)]
    assert "type_1" in target_client.monitoring.assets.index_information()


def test_an_archive_restores_only_with_the_compression_it_was_written_with(source, member, tmp_path):
    process, _ = source
    archive = tmp_path / "full.gz"
    dump_archive(process, archive)
    target, target_client = member("target")
    refused = restore(target, f"--archive={archive}")
    assert refused.returncode == 1
    assert "monitoring" not in target_client.list_database_names()


def test_documents_already_there_are_failures_and_stop_only_with_stop_on_error(source, member, tmp_path):
    process, _ = source
    archive = tmp_path / "full.gz"
    dump_archive(process, archive)
    target, _ = member("target")
    assert restore(target, f"--archive={archive}", "--gzip").returncode == 0
    again = restore(target, f"--archive={archive}", "--gzip")
    # Duplicate keys are gone through: exit 0, and only the summary says so.
    assert again.returncode == 0, again.stderr
    assert "0 document(s) restored successfully. 5 document(s) failed to restore." in again.stderr
    stopped = restore(target, f"--archive={archive}", "--gzip", "--stopOnError")
    assert stopped.returncode == 1


def test_the_oplog_replays_up_to_the_limit_and_not_the_entry_at_it(source, member, tmp_path):
    """--oplogLimit is exclusive: the entry at the limit is not applied."""
    process, client = source
    archive = tmp_path / "base.gz"
    dump_archive(process, archive)
    base_end = client.local["oplog.rs"].find_one({}, sort=[("$natural", -1)])["ts"]
    client.monitoring.assets.insert_one({"_id": "A"})
    client.monitoring.assets.delete_one({"_id": "A"})
    client.monitoring.assets.insert_one({"_id": "B"})
    # What the backup role's oplog capture keeps: the entries after the base, raw.
    raw = pymongo.MongoClient(process.uri, document_class=bson.raw_bson.RawBSONDocument)
    captured = list(raw.local["oplog.rs"].find({"ts": {"$gt": base_end}}))
    raw.close()
    entries = [bson.decode(entry.raw) for entry in captured]
    delete_of_a = next(e for e in entries if e["op"] == "d" and e["o"] == {"_id": "A"})
    replay_dir = tmp_path / "replay"
    replay_dir.mkdir()
    (replay_dir / "oplog.bson").write_bytes(b"".join(entry.raw for entry in captured))

    target, target_client = member("target")
    assert restore(target, f"--archive={archive}", "--gzip", "--oplogReplay").returncode == 0
    limit = f"{delete_of_a['ts'].time}:{delete_of_a['ts'].inc}"
    replayed = restore(target, "--oplogReplay", f"--oplogLimit={limit}", str(replay_dir))
    assert replayed.returncode == 0, replayed.stderr
    restored_ids = set(ids(target_client.monitoring.assets))
    assert "A" in restored_ids and "B" not in restored_ids


def test_the_backup_account_dumps_with_its_password_in_the_config_file(start_mongod, tmp_path):
    """The backup account (backup and clusterMonitor) reads with its password in a --config
    file; a wrong one is refused; no tool warns of a password on the command line."""
    root = tmp_path / "secured"
    config = {
        **servers.base_config(root, servers.free_port()),
        "replication": {"replSetName": "secured"},
        "security": {"keyFile": str(servers.write_keyfile(tmp_path / "keyfile")), "authorization": "enabled"},
    }
    process = start_mongod(config)
    servers.initiate_single_member(process, "secured")
    admin = process.client()
    admin.admin.command("createUser", "admin", pwd="admin-password-1", roles=["root"])
    admin = process.client(username="admin", password="admin-password-1")
    admin.admin.command("createUser", "backup", pwd="backup-password-1", roles=["backup", "clusterMonitor"])
    admin.monitoring.assets.insert_one({"_id": "host-1"})
    uri = f"mongodb://backup@127.0.0.1:{process.port}/?authSource=admin&directConnection=true"

    def dump_with(password: str):
        settings = tmp_path / "tools.yml"
        settings.write_text(yaml.safe_dump({"password": password}))
        settings.chmod(0o600)
        return servers.run_tool(
            "mongodump", f"--config={settings}", f"--uri={uri}", "--oplog", f"--archive={tmp_path}/b.gz", "--gzip"
        )

    dumped = dump_with("backup-password-1")
    assert dumped.returncode == 0, dumped.stderr
    assert counted(dumped.stderr, "done dumping")["monitoring.assets"] == 1
    assert "WARNING: On some systems, a password" not in dumped.stderr
    refused = dump_with("wrong-password-1")
    assert refused.returncode == 1


def test_the_tools_speak_tls_through_the_uri_and_refuse_tls_flags(start_mongod, tmp_path):
    """As the backup job runs them under requireTLS: the URI carries tls, tlsCAFile and
    tlsCertificateKeyFile; a plain URI is refused by the server."""
    ca = certificates.authority(tmp_path)
    certificates.issue(ca, tmp_path / "server.pem", "localhost")
    certificates.issue(ca, tmp_path / "client.pem", "backup-host")
    config = servers.base_config(tmp_path / "tls", servers.free_port())
    config["net"]["tls"] = {
        "mode": "requireTLS",
        "certificateKeyFile": str(tmp_path / "server.pem"),
        "CAFile": str(ca.ca_file),
    }
    process = start_mongod(config)
    query = f"tls=true&tlsCAFile={ca.ca_file}&tlsCertificateKeyFile={tmp_path / 'client.pem'}"
    dumped = servers.run_tool(
        "mongodump",
        f"--uri=mongodb://127.0.0.1:{process.port}/?directConnection=true&{query}",
        f"--out={tmp_path / 'dump'}",
    )
    assert dumped.returncode == 0, dumped.stderr
    plain = servers.run_tool("mongodump", f"--uri={process.uri}", f"--out={tmp_path / 'plain'}")
    assert plain.returncode == 1, plain.stderr
