"""Process-level behaviour of mongod the roles rely on: config file, --fork, --shutdown.

Runs against real binaries when MONGODB_BIN_DIR is set, otherwise against the stand-in.
"""

from __future__ import annotations

import os
from pathlib import Path

import pymongo
from support import servers


def test_fork_returns_once_listening_and_writes_pid_file(mongod):
    pid = int(Path(mongod.config["processManagement"]["pidFilePath"]).read_text())
    os.kill(pid, 0)  # raises if the process is not running
    assert mongod.client().admin.command("ping")["ok"] == 1


def test_get_cmd_line_opts_reports_the_config_file(mongod):
    parsed = mongod.client().admin.command("getCmdLineOpts")["parsed"]
    assert parsed["net"]["port"] == mongod.port
    assert parsed["storage"]["dbPath"] == str(mongod.dbpath)
    assert parsed["config"] == str(mongod.config_path)


def test_version_names_the_binary_and_release():
    assert servers.run_binary("mongod", "--version").stdout.startswith("db version v")
    assert servers.run_binary("mongos", "--version").stdout.startswith("mongos version v")


def test_unknown_option_is_refused_and_named(start_mongod, mongod_config):
    # storage.journal.enabled was removed in MongoDB 6.1.
    mongod_config["storage"]["journal"] = {"enabled": True}
    result = start_mongod(mongod_config, expect_ok=False).started
    assert result.returncode == 2
    assert "Unrecognized option: storage.journal.enabled" in result.stderr


def test_mongos_option_in_a_mongod_config_is_refused(start_mongod, mongod_config):
    mongod_config["sharding"] = {"configDB": "cfg/127.0.0.1:27019"}
    result = start_mongod(mongod_config, expect_ok=False).started
    assert result.returncode == 2
    assert "Unrecognized option: sharding.configDB" in result.stderr


def test_fork_without_a_log_file_is_refused(start_mongod, mongod_config):
    del mongod_config["systemLog"]
    result = start_mongod(mongod_config, expect_ok=False).started
    assert result.returncode == 2
    assert "--fork has to be used with --logpath or --syslog" in result.stdout + result.stderr


def test_shutdown_stops_the_process_and_state_survives_a_restart(start_mongod, mongod_config):
    first = start_mongod(mongod_config)
    first.client().monitoring.create_collection("assets")
    first.stop()
    assert servers.run_binary("mongod", "--shutdown", "--config", str(first.config_path)).returncode != 0

    second = start_mongod(mongod_config, name="again.conf")
    assert "assets" in second.client().monitoring.list_collection_names()


def test_storage_layout_options_cannot_change_on_existing_data(start_mongod, mongod_config):
    first = start_mongod(mongod_config)
    first.stop()
    mongod_config["storage"]["wiredTiger"]["engineConfig"]["directoryForIndexes"] = True
    result = start_mongod(mongod_config, name="changed.conf", expect_ok=False).started
    assert result.returncode != 0


def test_keyfile_open_to_others_is_refused(start_mongod, mongod_config, tmp_path):
    key_file = tmp_path / "keyfile"
    key_file.write_text("a" * 756)
    key_file.chmod(0o644)
    mongod_config["security"] = {"keyFile": str(key_file)}
    result = start_mongod(mongod_config, expect_ok=False).started
    assert result.returncode != 0


def test_command_line_options_without_a_config_file(tmp_path):
    dbpath = tmp_path / "data"
    dbpath.mkdir()
    port = servers.free_port()
    started = servers.run_binary(
        "mongod",
        "--port",
        str(port),
        "--dbpath",
        str(dbpath),
        "--bind_ip",
        "127.0.0.1",
        "--fork",
        "--logpath",
        str(tmp_path / "mongod.log"),
    )
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        client = pymongo.MongoClient("127.0.0.1", port, directConnection=True, serverSelectionTimeoutMS=5000)
        parsed = client.admin.command("getCmdLineOpts")["parsed"]
        client.close()
        assert parsed["net"]["port"] == port
        assert parsed["storage"]["dbPath"] == str(dbpath)
    finally:
        assert servers.run_binary("mongod", "--shutdown", "--dbpath", str(dbpath)).returncode == 0


def test_mongos_option_replication_local_ping_threshold_is_refused_by_mongod(start_mongod, mongod_config):
    # replication.localPingThresholdMs is defined in src/mongo/s/mongos_options.idl only.
    mongod_config["replication"] = {"localPingThresholdMs": 15}
    result = start_mongod(mongod_config, expect_ok=False).started
    assert result.returncode == 2
    assert "Unrecognized option: replication.localPingThresholdMs" in result.stderr


def test_small_oplog_size_is_accepted_and_zero_refused(start_mongod, mongod_config):
    # mongod_options.cpp refuses only sizes <= 0; 990 MB is replSetResizeOplog's minimum.
    mongod_config["replication"] = {"oplogSizeMB": 50}
    start_mongod(mongod_config)

    mongod_config["replication"] = {"oplogSizeMB": 0}
    mongod_config["net"]["port"] = servers.free_port()
    result = start_mongod(mongod_config, name="zero.conf", expect_ok=False).started
    assert result.returncode == 2
    assert "bad --oplogSize" in result.stdout + result.stderr
