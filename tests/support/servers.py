"""Start and stop MongoDB processes for tests.

Binaries come from MONGODB_BIN_DIR when it is set (real mongod/mongos), otherwise from
the stand-in under tests/standin/bin. Tests are written against MongoDB's documented
behaviour, so the same test passes against either.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pymongo
import yaml

TESTS_DIR = Path(__file__).resolve().parent.parent
STANDIN_BIN_DIR = TESTS_DIR / "standin" / "bin"
COMMAND_LOG = "standin-commands.jsonl"


def bin_dir() -> Path:
    configured = os.environ.get("MONGODB_BIN_DIR")
    return Path(configured) if configured else STANDIN_BIN_DIR


def using_standin() -> bool:
    return bin_dir().resolve() == STANDIN_BIN_DIR.resolve()


def tools_bin_dir() -> Path:
    """mongodump and mongorestore: MONGODB_TOOLS_BIN_DIR (the MongoDB Database Tools), or the
    stand-in's (tests/standin/tools.py)."""
    configured = os.environ.get("MONGODB_TOOLS_BIN_DIR")
    return Path(configured) if configured else STANDIN_BIN_DIR


def using_standin_tools() -> bool:
    return tools_bin_dir().resolve() == STANDIN_BIN_DIR.resolve()


def run_tool(name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(tools_bin_dir() / name), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def initiate_single_member(process: MongoProcess, set_name: str) -> pymongo.MongoClient:
    """replSetInitiate a one-member set on a started member; its client once it is primary."""
    client = process.client()
    client.admin.command(
        "replSetInitiate", {"_id": set_name, "members": [{"_id": 0, "host": f"127.0.0.1:{process.port}"}]}
    )
    wait_for(lambda: client.admin.command("hello").get("isWritablePrimary"), 60)
    return client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def base_config(root: Path, port: int) -> dict:
    """The smallest config a forked mongod accepts: its own port, paths and a small cache."""
    dbpath = root / "data"
    dbpath.mkdir(parents=True, exist_ok=True)
    return {
        "storage": {"dbPath": str(dbpath), "wiredTiger": {"engineConfig": {"cacheSizeGB": 0.25}}},
        "net": {"port": port, "bindIp": "127.0.0.1"},
        "systemLog": {"destination": "file", "path": str(root / "mongod.log"), "logAppend": True},
        "processManagement": {"fork": True, "pidFilePath": str(root / "mongod.pid")},
    }


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def run_binary(name: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(bin_dir() / name), *args], capture_output=True, text=True, timeout=timeout, check=False)


@dataclass
class MongoProcess:
    """One forked mongod started from a config file."""

    config_path: Path
    config: dict
    started: subprocess.CompletedProcess | None = None
    _clients: list = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.config["net"]["port"]

    @property
    def dbpath(self) -> Path:
        return Path(self.config["storage"]["dbPath"])

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self) -> subprocess.CompletedProcess:
        self.started = run_binary("mongod", "--config", str(self.config_path))
        return self.started

    def client(self, **options) -> pymongo.MongoClient:
        client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=5000, **options)
        self._clients.append(client)
        return client

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
        result = run_binary("mongod", "--shutdown", "--config", str(self.config_path))
        if result.returncode != 0:
            pid_file = Path(self.config["processManagement"]["pidFilePath"])
            if pid_file.exists():
                terminate(int(pid_file.read_text().strip() or 0))


def exited(pid: int) -> bool:
    """Gone, or a zombie: a forked server is reparented, and its new parent may take a
    while to reap it; a zombie holds no port or file any more."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def kill(process: MongoProcess) -> None:
    """SIGKILL, as a crash or a power cut would stop it: no shutdown, no handover."""
    pid = int(Path(process.config["processManagement"]["pidFilePath"]).read_text().strip())
    os.kill(pid, 9)
    wait_for(lambda: exited(pid), 30)


def terminate(pid: int) -> None:
    if pid <= 0:
        return
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not exited(pid):
        time.sleep(0.05)


class CommandRecorder:
    """What a server received: the stand-in's command log, or the profiler on a real server.

    The stand-in records every command; a real server records operations on the
    databases whose profiler a test turns on (level 2), which covers the catalogue
    commands the project's modules send to the monitoring database.
    """

    def __init__(self, process: MongoProcess, databases: list[str]):
        self.process = process
        self.databases = databases
        self._offset = 0
        if not using_standin():
            client = process.client()
            for name in databases:
                client[name].command("profile", 2)

    def mark(self) -> None:
        """Forget everything received so far."""
        if using_standin():
            log = self.process.dbpath / COMMAND_LOG
            self._offset = log.stat().st_size if log.exists() else 0
        else:
            client = self.process.client()
            for name in self.databases:
                client[name].command("profile", 0)
                client[name]["system.profile"].drop()
                client[name].command("profile", 2)

    def commands(self) -> list[dict]:
        """Commands since the last mark: [{"command", "db", "write"}]."""
        if using_standin():
            log = self.process.dbpath / COMMAND_LOG
            if not log.exists():
                return []
            with log.open() as handle:
                handle.seek(self._offset)
                return [json.loads(line) for line in handle if line.strip()]
        client = self.process.client()
        found = []
        for name in self.databases:
            for entry in client[name]["system.profile"].find({"op": "command"}).sort("ts", 1):
                command = next(iter(entry.get("command", {})), "")
                if command == "profile":
                    continue
                found.append({"command": command, "db": name, "write": command in WRITE_COMMANDS})
        return found

    def writes(self) -> list[dict]:
        return [entry for entry in self.commands() if entry["write"]]


WRITE_COMMANDS = {
    "create",
    "drop",
    "dropDatabase",
    "collMod",
    "createIndexes",
    "dropIndexes",
    "insert",
    "update",
    "delete",
    "findAndModify",
}


def non_loopback_address() -> str | None:
    """An IPv4 address of this machine's own interfaces that is not loopback, or None.

    Traffic to it never leaves the machine (the kernel delivers it locally), but a
    server sees such a client as remote: what MongoDB's localhost exception turns on.
    """
    import fcntl
    import ipaddress
    import struct

    siocgifaddr = 0x8915
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(probe.fileno(), siocgifaddr, struct.pack("256s", name[:15].encode()))
            except OSError:
                continue
            address = socket.inet_ntoa(packed[20:24])
            if not ipaddress.ip_address(address).is_loopback:
                return address
    return None


def write_keyfile(path: Path) -> Path:
    """A replica set keyfile (mode 0400) with fixed test content."""
    path.write_text("standintestkeyfilecontent0123456789\n")
    path.chmod(0o400)
    return path


def wait_for(condition, timeout: float, interval: float = 0.2):
    """condition()'s first truthy value within timeout seconds; AssertionError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except pymongo.errors.PyMongoError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout}s: {condition}")
        time.sleep(interval)


def start_mongos(root: Path, config_db: str) -> int:
    """A forked mongos under root routing to config_db (<set>/<host:port>); its port."""
    port = free_port()
    config = {
        "net": {"port": port, "bindIp": "127.0.0.1"},
        "sharding": {"configDB": config_db},
        "systemLog": {"destination": "file", "path": str(root / "mongos.log")},
        "processManagement": {"fork": True, "pidFilePath": str(root / "mongos.pid")},
    }
    started = run_binary("mongos", "--config", str(write_config(root / "mongos.conf", config)))
    assert started.returncode == 0, started.stdout + started.stderr
    return port
