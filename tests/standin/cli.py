"""Command line of the stand-in `mongod` and `mongos` executables.

Accepts the forms the project's roles and tests use, with mongod's behaviour:
``--config <file>``, ``--fork``, ``--version``, ``--shutdown``, ``--port``, ``--dbpath``,
``--bind_ip``, ``--bind_ip_all``, ``--logpath``, ``--pidfilepath``, ``--replSet``,
``--configsvr``, ``--shardsvr``, ``--configdb`` and ``--keyFile``. Exit codes follow
src/mongo/util/exit_code.h: 0 clean, 2 bad options, 48 address in use, 62 data of
an FCV this binary does not accept (fcv.py), 100 uncaught
error (e.g. storage options that conflict with the data files).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import ssl
import sys
import time
from pathlib import Path

import yaml

from . import options as option_rules

# The server's modules (fcv, tls, storage and what they import: pymongo, bson) are
# imported where a process is checked or started, not for --version, which the roles ask
# of every machine's binaries on each run (a real mongod answers it in milliseconds).

EXIT_CLEAN = 0
EXIT_FAILURE = 1
EXIT_BADOPTIONS = 2
EXIT_NET_ERROR = 48
EXIT_NEED_UPGRADE = 62
EXIT_UNCAUGHT = 100

DEFAULT_VERSION = "8.0.17"


class StartupError(Exception):
    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def _parser(role: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=role, add_help=False)
    parser.add_argument("--config", "-f")
    parser.add_argument("--fork", action="store_true")
    parser.add_argument("--version", action="store_true")
    parser.add_argument("--shutdown", action="store_true")
    parser.add_argument("--port", type=int)
    parser.add_argument("--bind_ip")
    parser.add_argument("--bind_ip_all", action="store_true")
    parser.add_argument("--logpath")
    parser.add_argument("--logappend", action="store_true")
    parser.add_argument("--pidfilepath")
    parser.add_argument("--keyFile")
    parser.add_argument("--auth", action="store_true")
    parser.add_argument("--setParameter", action="append", default=[])
    if role == "mongod":
        parser.add_argument("--dbpath")
        parser.add_argument("--replSet")
        parser.add_argument("--configsvr", action="store_true")
        parser.add_argument("--shardsvr", action="store_true")
        parser.add_argument("--directoryperdb", action="store_true")
        parser.add_argument("--wiredTigerCacheSizeGB", type=float)
        parser.add_argument("--wiredTigerDirectoryForIndexes", action="store_true")
    else:
        parser.add_argument("--configdb")
    return parser


def _set(options: dict, path: str, value) -> None:
    node = options
    parts = path.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _get(options: dict, path: str, default=None):
    node = options
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def load_options(role: str, args: argparse.Namespace, version: str) -> dict:
    """The effective options: the config file, then the command line on top of it."""
    options: dict = {}
    if args.config:
        try:
            loaded = yaml.safe_load(Path(args.config).read_text())
        except OSError as error:
            raise StartupError(f"Error reading config file: {error.strerror}", EXIT_BADOPTIONS) from error
        except yaml.YAMLError as error:
            raise StartupError(f"Error parsing YAML config file: {error}", EXIT_BADOPTIONS) from error
        if loaded is not None and not isinstance(loaded, dict):
            raise StartupError("Error parsing YAML config file: not a map", EXIT_BADOPTIONS)
        options = loaded or {}
        problem = option_rules.first_problem(role, version, options)
        if problem:
            raise StartupError(problem, EXIT_BADOPTIONS)
        options["config"] = args.config
    overrides = {
        "net.port": args.port,
        "net.bindIp": args.bind_ip,
        "net.bindIpAll": args.bind_ip_all or None,
        "systemLog.path": args.logpath,
        "processManagement.fork": args.fork or None,
        "processManagement.pidFilePath": args.pidfilepath,
        "security.keyFile": args.keyFile,
        "security.authorization": "enabled" if args.auth else None,
    }
    if role == "mongod":
        overrides.update(
            {
                "storage.dbPath": args.dbpath,
                "replication.replSetName": args.replSet,
                "sharding.clusterRole": "configsvr" if args.configsvr else "shardsvr" if args.shardsvr else None,
                "storage.directoryPerDB": args.directoryperdb or None,
                "storage.wiredTiger.engineConfig.cacheSizeGB": args.wiredTigerCacheSizeGB,
                "storage.wiredTiger.engineConfig.directoryForIndexes": args.wiredTigerDirectoryForIndexes or None,
            }
        )
    else:
        overrides["sharding.configDB"] = args.configdb
    for path, value in overrides.items():
        if value is not None:
            _set(options, path, value)
    if args.logpath:
        _set(options, "systemLog.destination", "file")
    for item in args.setParameter:
        name, _, value = item.partition("=")
        _set(options, f"setParameter.{name}", value)
    return options


def _check_startup_rules(role: str, options: dict) -> None:
    # src/mongo/db/server_options_server_helpers.cpp (storeServerOptions): --fork needs a log
    # destination, destination file needs a path; src/mongo/s/mongos_options.cpp: mongos
    # needs --configdb. All BadValue, exit code 2 (EXIT_BADOPTIONS).
    if _get(options, "processManagement.fork") and _get(options, "systemLog.destination") not in ("file", "syslog"):
        raise StartupError("BadValue: --fork has to be used with --logpath or --syslog", EXIT_BADOPTIONS)
    if _get(options, "systemLog.destination") == "file" and not _get(options, "systemLog.path"):
        raise StartupError(
            "BadValue: systemLog.path is required if systemLog.destination is to a file", EXIT_BADOPTIONS
        )
    if role == "mongos" and not _get(options, "sharding.configDB"):
        raise StartupError("BadValue: error: no args for --configdb", EXIT_BADOPTIONS)
    key_file = _get(options, "security.keyFile")
    if key_file:
        _check_key_file(Path(key_file))
    from . import tls

    problem = tls.startup_problem(options)
    if problem:
        raise StartupError(problem, EXIT_BADOPTIONS)


def _check_key_file(path: Path) -> None:
    """mongod refuses a keyfile readable by group or others, and a key outside 6..1024
    base64 characters (src/mongo/db/auth/security_file.cpp, security_key.cpp)."""
    try:
        mode = path.stat().st_mode
        content = path.read_text()
    except OSError as error:
        raise StartupError(f"Error reading file {path}: {error.strerror}", EXIT_BADOPTIONS) from error
    if mode & 0o077:
        raise StartupError(f"permissions on {path} are too open", EXIT_BADOPTIONS)
    key = "".join(content.split())
    if not 6 <= len(key) <= 1024:
        raise StartupError(
            f"security key in {path} has length {len(key)}, must be between 6 and 1024 chars", EXIT_BADOPTIONS
        )


def _check_dbpath(options: dict) -> Path:
    """A missing dbPath is NonExistentPath (src/mongo/db/storage/storage_engine_init.cpp);
    directoryPerDB / directoryForIndexes that differ from the ones recorded in storage.bson
    are InvalidOptions (src/mongo/db/storage/storage_engine_metadata.cpp,
    validateStorageOptions). Both end the process with exit code 100."""
    dbpath = Path(_get(options, "storage.dbPath", "/data/db"))
    if not dbpath.is_dir():
        raise StartupError(
            f"NonExistentPath: Data directory {dbpath} not found. Create the missing directory or specify "
            "another path using (1) the --dbpath command line option, or (2) by adding the 'storage.dbPath' "
            "option in the configuration file.",
            EXIT_UNCAUGHT,
        )
    requested = {
        "directoryPerDB": bool(_get(options, "storage.directoryPerDB", False)),
        "directoryForIndexes": bool(_get(options, "storage.wiredTiger.engineConfig.directoryForIndexes", False)),
    }
    from .storage import read_storage_metadata, write_storage_metadata

    recorded = read_storage_metadata(dbpath)
    if recorded is None:
        write_storage_metadata(dbpath, requested)
        return dbpath
    current = recorded["storage"]["options"]
    for name, value in requested.items():
        if bool(current.get(name, False)) != value:
            raise StartupError(
                f"InvalidOptions: Requested option conflicts with the current storage engine option for {name}; "
                f"you requested {str(value).lower()} but the current server storage is implicitly set to "
                f"{str(current.get(name, False)).lower()} and cannot be changed",
                EXIT_UNCAUGHT,
            )
    return dbpath


def _print_version(role: str, version: str) -> None:
    label = "db version" if role == "mongod" else "mongos version"
    print(f"{label} v{version}")
    build = {
        "version": version,
        "gitVersion": "0" * 40,
        "modules": [],
        "allocator": "tcmalloc-google",
        "environment": {"distmod": "standin", "distarch": "x86_64", "target_arch": "x86_64"},
    }
    print("Build Info: " + json.dumps(build, indent=4))


def _lock_path(options: dict) -> Path:
    from .storage import LOCK_FILE

    return Path(_get(options, "storage.dbPath", "/data/db")) / LOCK_FILE


def _shutdown(options: dict) -> int:
    """Signal the mongod whose pid is in <dbPath>/mongod.lock and wait for it to exit."""
    lock = _lock_path(options)
    try:
        pid = int(lock.read_text().strip() or "0")
    except (OSError, ValueError):
        pid = 0
    if not pid or not _alive(pid):
        print("There doesn't seem to be a server running with dbpath: " + str(lock.parent))
        return EXIT_FAILURE
    print(f"killing process with pid: {pid}")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return EXIT_CLEAN if not _alive(pid) else EXIT_FAILURE


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still answers signal 0; treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _configure_logging(options: dict) -> None:
    path = _get(options, "systemLog.path")
    handler: logging.Handler
    if _get(options, "systemLog.destination") == "file" and path:
        handler = logging.FileHandler(path, mode="a" if _get(options, "systemLog.logAppend") else "w")
    else:
        handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_JsonLogFormatter())
    root = logging.getLogger("standin")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


class _JsonLogFormatter(logging.Formatter):
    """Log lines shaped like mongod's structured log ({"t", "s", "c", "msg"})."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(record.created))
        entry = {"t": {"$date": stamp}, "s": record.levelname[0], "c": "STANDIN", "msg": record.getMessage()}
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _bind_addresses(options: dict) -> list[str]:
    if _get(options, "net.bindIpAll"):
        return ["0.0.0.0"]
    raw = str(_get(options, "net.bindIp", "localhost"))
    addresses = [part.strip() for part in raw.split(",") if part.strip()]
    return ["127.0.0.1" if address == "localhost" else address for address in addresses]


def _build_server(role: str, version: str, options: dict, argv: list[str]):
    from .app import build_server

    dbpath = _check_dbpath(options) if role == "mongod" else None
    return build_server(role, version, options, argv, dbpath, _bind_addresses(options))


def _write_pid_files(options: dict, role: str) -> None:
    pid_file = _get(options, "processManagement.pidFilePath")
    if pid_file:
        Path(pid_file).write_text(f"{os.getpid()}\n")
    if role == "mongod":
        _lock_path(options).write_text(f"{os.getpid()}\n")


def _clear_lock(options: dict, role: str) -> None:
    if role == "mongod":
        lock = _lock_path(options)
        if lock.exists():
            lock.write_text("")


def _run(role: str, version: str, options: dict, argv: list[str], ready_fd: int | None) -> int:
    _check_startup_rules(role, options)
    try:
        server = _build_server(role, version, options, argv)
    except ssl.SSLError as error:
        raise StartupError(f"Cannot read the TLS certificate key file: {error}", EXIT_BADOPTIONS) from error
    from . import fcv

    if role == "mongod" and (problem := fcv.startup_problem(server)):
        raise StartupError(problem, EXIT_NEED_UPGRADE)
    try:
        server.listen()
    except OSError as error:
        raise StartupError(f"Error setting up listener: SocketException: {error.strerror}", EXIT_NET_ERROR) from error
    _write_pid_files(options, role)
    signal.signal(signal.SIGTERM, lambda *_: server.signal_shutdown())
    signal.signal(signal.SIGINT, lambda *_: server.signal_shutdown())
    _configure_logging(options)
    logging.getLogger("standin").info(f"Waiting for connections on port {server.settings.port}")
    if ready_fd is not None:
        os.write(ready_fd, b"0")
        os.close(ready_fd)
    server.serve_forever()
    _clear_lock(options, role)
    return EXIT_CLEAN


def _fork_and_run(role: str, version: str, options: dict, argv: list[str]) -> int:
    """Parent returns 0 only once the child listens, like mongod --fork."""
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child:
        os.close(write_fd)
        print(f"about to fork child process, waiting until server is ready for connections.\nforked process: {child}")
        status = os.read(read_fd, 4096).decode()
        os.close(read_fd)
        if status == "0":
            print("child process started successfully, parent exiting")
            return EXIT_CLEAN
        code, _, message = status.partition(":")
        print(f"ERROR: child process failed, exited with {code or EXIT_FAILURE}", file=sys.stdout)
        if message:
            print(message, file=sys.stderr)
        os.waitpid(child, 0)
        return int(code) if code.isdigit() else EXIT_FAILURE
    os.close(read_fd)
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        code = _run(role, version, options, argv, write_fd)
    except StartupError as error:
        os.write(write_fd, f"{error.exit_code}:{error}".encode())
        code = error.exit_code
    except Exception as error:
        os.write(write_fd, f"{EXIT_UNCAUGHT}:{error}".encode())
        code = EXIT_UNCAUGHT
    os._exit(code)


def show_command_line(argv: list[str]) -> None:
    """Make /proc/<pid>/cmdline read as a real mongod's: the binary's path, then its options.

    A real mongod is its own executable, so its command line is the argv it was started
    with (e.g. /usr/bin/mongod --config /etc/mongod.conf); the stand-in runs under Python,
    whose command line would show the interpreter instead. Tools that identify a process
    by its command line (the project's pid-file check) then see what they see on a host.
    setproctitle writes over the process's argv area, which is what /proc/<pid>/cmdline
    reads (proc(5)); a child of --fork keeps it.
    """
    import setproctitle

    setproctitle.setproctitle(" ".join(argv))


def main(role: str, argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    version = os.environ.get("MONGODB_STANDIN_VERSION", DEFAULT_VERSION)
    try:
        args, unknown = _parser(role).parse_known_args(argv)
    except SystemExit:
        return EXIT_BADOPTIONS
    if unknown:
        print(f"Error parsing command line: unrecognised option '{unknown[0]}'", file=sys.stderr)
        print(f"try '{role} --help' for more information", file=sys.stderr)
        return EXIT_BADOPTIONS
    if args.version:
        _print_version(role, version)
        return EXIT_CLEAN
    try:
        options = load_options(role, args, version)
        if args.shutdown:
            return _shutdown(options)
        if _get(options, "processManagement.fork"):
            _check_startup_rules(role, options)
            return _fork_and_run(role, version, options, [role, *argv])
        return _run(role, version, options, [role, *argv], None)
    except StartupError as error:
        print(str(error), file=sys.stderr)
        if error.exit_code == EXIT_BADOPTIONS and str(error).startswith("Unrecognized option"):
            print(f"try '{role} --help' for more information", file=sys.stderr)
        return error.exit_code
