"""Stand-in mongodump and mongorestore: test equipment, not the MongoDB Database Tools.

They model Database Tools 100.18.0 (github.com/mongodb/mongo-tools) for the options the
project uses, with the same command lines, refusals, exit codes and log lines the
project's scripts rely on; every rule names the file of that repository it follows.
They talk to any server with pymongo, so they work against real mongod as well as the
stand-in. Not modelled:

- The archive: a gzip (with --gzip) or plain file of extended-JSON lines of the
  stand-in's own (STANDIN_ARCHIVE), not MongoDB's archive format; each tool reads only
  its own. Directory output (--out) is what MongoDB's tools write: <db>/<coll>.bson
  (raw BSON) and <db>/<coll>.metadata.json, and oplog.bson at the top.
- Time-series collections are dumped and restored as their measurements (find and
  insert on the collection), not as system.buckets documents.
- admin.system.users/roles/version and the config database are not dumped; nor are
  --query, views, --dumpDbUsersAndRoles, parallelism, progress bars, or transactions
  in an oplog being replayed.

Logging as tool_logger.go: "<time>\t<message>" on stderr, time as
2006-01-02T15:04:05.000-0700; namespaces quoted with backquotes (%#q, TOOLS-4158, 100.16+).
Exit codes as common/util/exit_code.go: 0 or 1.
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import io
import os
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import bson
import yaml
from bson import json_util

# pymongo is imported where a tool connects, not for --version, which the backup role
# asks of mongodump on each run (the real tools answer it in milliseconds).
if TYPE_CHECKING:
    import pymongo

VERSION = "100.18.0"
STANDIN_ARCHIVE = "standin-archive-1 (the mongod stand-in's own format, not MongoDB's archive format)"
JSON = json_util.CANONICAL_JSON_OPTIONS.with_options(document_class=dict, tz_aware=True)
# config collections a full dump keeps (common/dumprestore/config.go); the stand-in dumps none.
SKIPPED_DATABASES = {"local", "config"}


class Failed(Exception):
    """The tool stops: "Failed: <message>", exit 1 (mongodump/main, mongorestore/main)."""

    def __init__(self, message: str, result: Restored | None = None):
        super().__init__(message)
        self.result = result


class BadCommandLine(Exception):
    """error parsing command line options: <message>, exit 1."""


def log(message: str) -> None:
    now = datetime.datetime.now().astimezone()
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}" + now.strftime("%z")
    print(f"{stamp}\t{message}", file=sys.stderr, flush=True)


def quoted(namespace: str) -> str:
    return f"`{namespace}`"


def plural(count: int, word: str) -> str:  # common/util/strings.go, Pluralize
    return word if count == 1 else {"entry": "entries"}.get(word, word + "s")


# -- the command line (common/options/options.go, mongodump/options.go, mongorestore/options.go) --

FLAG, VALUE, OPTIONAL, MANY = "flag", "value", "optional", "many"
COMMON = {
    "help": FLAG,
    "version": FLAG,
    "config": VALUE,
    "verbose": OPTIONAL,
    "quiet": FLAG,
    "host": VALUE,
    "port": VALUE,
    "uri": VALUE,
    "username": VALUE,
    "password": VALUE,
    "authenticationDatabase": VALUE,
    "authenticationMechanism": VALUE,
    "db": VALUE,
    "collection": VALUE,
    # TLS flags (mongo-tools common/options/options.go, type SSL): only --ssl* spellings
    # and --tlsInsecure; --tls, --tlsCAFile and the like are unknown options. The URI's
    # tls, tlsCAFile and tlsCertificateKeyFile are the way to the current names.
    "ssl": FLAG,
    "sslCAFile": VALUE,
    "sslPEMKeyFile": VALUE,
    "sslPEMKeyPassword": VALUE,
    "sslAllowInvalidCertificates": FLAG,
    "sslAllowInvalidHostnames": FLAG,
    "tlsInsecure": FLAG,
}
# How the flags reach the connection (common/db/db.go, configureClient: the CA file as
# the root certificates, the PEM key file as the client certificate; either invalid-*
# flag or --tlsInsecure skips verification).
TLS_FLAGS = {
    "sslCAFile": "tlsCAFile",
    "sslPEMKeyFile": "tlsCertificateKeyFile",
    "sslPEMKeyPassword": "tlsCertificateKeyFilePassword",
}
SHORT = {
    "h": "host",
    "u": "username",
    "p": "password",
    "d": "db",
    "c": "collection",
    "o": "out",
    "q": "query",
    "j": "numParallelCollections",
}
DUMP = {
    **COMMON,
    "out": VALUE,
    "gzip": FLAG,
    "oplog": FLAG,
    "archive": OPTIONAL,
    "query": VALUE,
    "readPreference": VALUE,
    "excludeCollection": MANY,
    "numParallelCollections": VALUE,
}
RESTORE = {
    **COMMON,
    "archive": OPTIONAL,
    "gzip": FLAG,
    "dir": VALUE,
    "oplogReplay": FLAG,
    "oplogLimit": VALUE,
    "oplogFile": VALUE,
    "drop": FLAG,
    "dryRun": FLAG,
    "stopOnError": FLAG,
    "maintainInsertionOrder": FLAG,
    "noIndexRestore": FLAG,
    "nsInclude": MANY,
    "nsExclude": MANY,
    "nsFrom": MANY,
    "nsTo": MANY,
    "excludeCollection": MANY,
    "numParallelCollections": VALUE,
    "writeConcern": VALUE,
}
# What an option that takes no value gets when given bare (optional-value:"-" / "").
OPTIONAL_DEFAULTS = {"archive": "-", "verbose": ""}


def parse(spec: dict, argv: list[str]) -> tuple[dict, list[str]]:
    """go-flags as the tools configure it: --name value, --name=value, an optional value
    only after '=', short options. An unknown option goes to the tools' own handler
    (common/options/options.go, handleUnknownOption: "unknown option %#q")."""
    options: dict = {}
    positional: list[str] = []
    words = list(argv)
    while words:
        word = words.pop(0)
        if word == "--":
            positional += words
            break
        if word.startswith("--"):
            name, has_value, value = word[2:].partition("=")
        elif word.startswith("-") and len(word) > 1:
            letters = word[1:]
            if set(letters) == {"v"}:
                options["verbose"] = options.get("verbose", "") + letters
                continue
            name, value = SHORT.get(letters[0], letters[0]), letters[1:]
            has_value = bool(value)
            if name not in spec:
                raise BadCommandLine(f"unknown option `{letters[0]}`")
        else:
            positional.append(word)
            continue
        kind = spec.get(name)
        if kind is None:
            raise BadCommandLine(f"unknown option `{name}`")
        if kind == FLAG:
            if has_value:
                raise BadCommandLine(f"bool flag `--{name}' cannot have an argument")
            options[name] = True
        elif kind == OPTIONAL:
            options[name] = value if has_value else OPTIONAL_DEFAULTS[name]
        else:
            if not has_value:
                if not words:
                    raise BadCommandLine(f"expected argument for flag `--{name}'")
                value = words.pop(0)
            if kind == MANY:
                options.setdefault(name, []).append(value)
            else:
                options[name] = value
    return options, positional


def read_config_file(options: dict) -> None:
    """--config: a YAML file with password, uri (and TLS key passwords); yaml.UnmarshalStrict
    refuses other keys (common/options/options.go, ParseConfigFile). The command line wins."""
    path = options.get("config")
    if not path:
        return
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise BadCommandLine(f"error opening file with --config: {error}") from error
    content = yaml.safe_load(text) or {}
    allowed = {"password", "uri", "sslPEMKeyPassword", "destinationPassword"}
    unknown = sorted(set(content) - allowed) if isinstance(content, dict) else ["<not a mapping>"]
    if unknown:
        raise BadCommandLine(f"error parsing config file {path}: yaml: unknown field {unknown[0]!r}")
    for key, name in (("password", "password"), ("uri", "uri")):
        if content.get(key) and name not in options:
            options[name] = content[key]


def client(options: dict) -> pymongo.MongoClient:
    """One connection as the tools make it: --uri, or --host/--port, with the credentials."""
    import pymongo

    uri = options.get("uri")
    keywords: dict = {"serverSelectionTimeoutMS": 10000, "appname": "stand-in database tools"}
    if options.get("ssl"):
        keywords["tls"] = True
        keywords.update({name: options[flag] for flag, name in TLS_FLAGS.items() if options.get(flag)})
        if any(
            options.get(flag) for flag in ("sslAllowInvalidCertificates", "sslAllowInvalidHostnames", "tlsInsecure")
        ):
            keywords["tlsInsecure"] = True
    if uri:
        parsed = pymongo.uri_parser.parse_uri(uri)
        username = parsed.get("username") or options.get("username")
        if username and not parsed.get("password") and options.get("password"):
            # The user from the URI, the password from --config or --password.
            keywords.update(username=username, password=options["password"])
        return pymongo.MongoClient(uri, **keywords)
    host = options.get("host", "localhost")
    if "/" in host:  # setname/host1,host2
        set_name, _, seeds = host.partition("/")
        keywords["replicaSet"] = set_name
        host = seeds
    else:
        keywords["directConnection"] = True
    if options.get("port") and ":" not in host:
        host = f"{host}:{options['port']}"
    if options.get("username"):
        keywords.update(
            username=options["username"],
            password=options.get("password", ""),
            authSource=options.get("authenticationDatabase") or options.get("db") or "admin",
        )
    return pymongo.MongoClient(f"mongodb://{urllib.parse.quote(host, safe=':,[]')}/", **keywords)


def is_mongos(connection: pymongo.MongoClient) -> bool:  # common/db/db.go, IsMongos
    return connection.admin.command("hello").get("msg") == "isdbgrid"


# -- the stand-in's archive ------------------------------------------------------------


def open_archive(path: str, mode: str, compressed: bool):
    raw = sys.stdout.buffer if path == "-" and mode == "w" else sys.stdin.buffer if path == "-" else None
    if raw is None:
        raw = open(path, mode + "b")  # noqa: SIM115 - closed by the caller
    stream = gzip.GzipFile(fileobj=raw, mode=mode) if compressed else raw
    return io.TextIOWrapper(stream, encoding="utf-8")


def write_line(stream, kind: str, value) -> None:
    stream.write(json_util.dumps({kind: value}, json_options=JSON) + "\n")


def read_archive(path: str, compressed: bool) -> list[dict]:
    """Every line of an archive; one that is not the stand-in's (or not compressed as
    --gzip says) fails as mongorestore does on a stream that is not an archive."""
    try:
        with open_archive(path, "r", compressed) as stream:
            lines = [json_util.loads(line, json_options=JSON) for line in stream if line.strip()]
    except (OSError, EOFError, ValueError, UnicodeDecodeError, gzip.BadGzipFile) as error:
        raise Failed("stream or file does not appear to be a mongodump archive") from error
    if not lines or lines[0].get("prelude", {}).get("format") != STANDIN_ARCHIVE:
        raise Failed("stream or file does not appear to be a mongodump archive")
    return lines[1:]


# -- mongodump --------------------------------------------------------------------------


def validate_dump(options: dict) -> None:
    """mongodump/mongodump.go, ValidateOptions (run after connecting, as Init does)."""
    out, archive = options.get("out"), options.get("archive")
    if out == "-" and not options.get("collection"):
        raise Failed("bad option: can only dump a single collection to stdout")
    if not options.get("db") and options.get("collection"):
        raise Failed("bad option: cannot dump a collection without a specified database")
    if options.get("query") and not options.get("collection"):
        raise Failed("bad option: cannot dump using a query without a specified collection")
    if options.get("collection", "").startswith("system.buckets."):
        raise Failed(
            "bad option: cannot specify a system.buckets collection in --collection. "
            "Specifying the timeseries collection will dump the system.buckets collection"
        )
    if options.get("oplog") and options.get("db"):
        raise Failed("bad option: --oplog mode only supported on full dumps")
    if options.get("excludeCollection") and options.get("collection"):
        raise Failed("bad option: --collection is not allowed when --excludeCollection is specified")
    if options.get("excludeCollection") and not options.get("db"):
        raise Failed("bad option: --db is required when --excludeCollection is specified")
    if out and archive:
        raise Failed("bad option: --out not allowed when --archive is specified")
    if int(options.get("numParallelCollections", 4)) <= 0:
        raise Failed("bad option: numParallelCollections must be positive")


def _latest_oplog_timestamp(connection: pymongo.MongoClient) -> bson.Timestamp:
    latest = connection.local["oplog.rs"].find_one({}, sort=[("$natural", -1)])
    if latest is None:
        raise Failed("error getting oplog start: error getting recent oplog entry: mongo: no documents in result")
    return latest["ts"]


def _collections_to_dump(connection: pymongo.MongoClient, options: dict) -> list[tuple[str, dict]]:
    if options.get("db"):
        names = [options["db"]]
    else:
        names = [name for name in connection.list_database_names() if name not in SKIPPED_DATABASES]
    found = []
    for db_name in names:
        for info in connection[db_name].list_collections():
            name = info["name"]
            if name.startswith("system.") or info.get("type") == "view":
                continue
            if options.get("collection") and name != options["collection"]:
                continue
            if name in options.get("excludeCollection", []):
                continue
            found.append((db_name, info))
    return found


def dump(options: dict) -> None:
    connection = client(options)
    validate_dump(options)
    if options.get("oplog") and is_mongos(connection):
        raise Failed("can't use --oplog option when dumping from a mongos")
    oplog_start = None
    if options.get("oplog"):
        if "hosts" not in connection.admin.command("hello"):
            raise Failed("error finding oplog: not connected to master")
        oplog_start = _latest_oplog_timestamp(connection)
    archive = options.get("archive")
    out = Path(options.get("out") or "dump")
    stream = open_archive(archive, "w", bool(options.get("gzip"))) if archive else None
    try:
        if stream is not None:
            write_line(stream, "prelude", {"format": STANDIN_ARCHIVE, "tool": f"mongodump {VERSION}"})
        for db_name, info in _collections_to_dump(connection, options):
            namespace = f"{db_name}.{info['name']}"
            coll = connection[db_name][info["name"]]
            metadata = {
                "db": db_name,
                "collection": info["name"],
                "type": info.get("type", "collection"),
                "options": info.get("options", {}),
                "indexes": [spec for spec in coll.list_indexes() if spec["name"] != "_id_"],
            }
            where = archive if stream is not None else str(out / db_name / f"{info['name']}.bson")
            log(f"writing {quoted(namespace)} to {quoted(where)}")
            documents = list(coll.find({}))
            if stream is not None:
                write_line(stream, "collection", metadata)
                for document in documents:
                    write_line(stream, "document", {"ns": namespace, "document": document})
            else:
                _write_directory(out, metadata, documents, bool(options.get("gzip")))
            log(f"done dumping {quoted(namespace)} ({len(documents)} {plural(len(documents), 'document')})")
        if oplog_start is not None:
            oplog_end = _latest_oplog_timestamp(connection)
            oldest = connection.local["oplog.rs"].find_one({}, sort=[("$natural", 1)])
            if oldest is None or oldest["ts"] > oplog_start:
                raise Failed("oplog overflow: mongodump was unable to capture all new oplog entries during execution")
            entries = list(
                connection.local["oplog.rs"].find(
                    {"$and": [{"ts": {"$gte": oplog_start}}, {"ts": {"$lte": oplog_end}}]}
                )
            )
            log(f"writing captured oplog to {quoted(archive or str(out / 'oplog.bson'))}")
            if stream is not None:
                for entry in entries:
                    write_line(stream, "oplog", entry)
            else:
                (out / "oplog.bson").write_bytes(b"".join(bson.encode(entry) for entry in entries))
            log(f"\tdumped {len(entries)} oplog {plural(len(entries), 'entry')}")
    finally:
        if stream is not None:
            stream.close()


def _write_directory(out: Path, metadata: dict, documents: list[dict], compressed: bool) -> None:
    folder = out / metadata["db"]
    folder.mkdir(parents=True, exist_ok=True)
    data = b"".join(bson.encode(document) for document in documents)
    description = json_util.dumps(
        {"options": metadata["options"], "indexes": metadata["indexes"], "type": metadata["type"]}, json_options=JSON
    )
    suffix = ".gz" if compressed else ""
    (folder / f"{metadata['collection']}.bson{suffix}").write_bytes(gzip.compress(data) if compressed else data)
    (folder / f"{metadata['collection']}.metadata.json{suffix}").write_bytes(
        gzip.compress(description.encode()) if compressed else description.encode()
    )


# -- mongorestore -----------------------------------------------------------------------


def parse_oplog_limit(text: str) -> bson.Timestamp:
    """<seconds>[:ordinal] (common/util/timestamp.go, FormatDate's sibling ParseTimestamp)."""
    seconds, _, ordinal = text.partition(":")
    try:
        return bson.Timestamp(int(seconds), int(ordinal or 0))
    except ValueError as error:
        raise Failed(f"error parsing timestamp argument to --oplogLimit: {error}") from error


def validate_restore(options: dict, positional: list[str]) -> None:
    """mongorestore/mongorestore.go, ParseAndValidateOptions (before any data is read)."""
    if not options.get("db") and options.get("collection"):
        raise Failed("cannot restore a collection without a specified database")
    if options.get("oplogLimit"):
        if not options.get("oplogReplay"):
            raise Failed("cannot use --oplogLimit without --oplogReplay enabled")
        parse_oplog_limit(options["oplogLimit"])
    if options.get("oplogFile"):
        if not options.get("oplogReplay"):
            raise Failed("cannot use --oplogFile without --oplogReplay enabled")
        if options.get("archive"):
            raise Failed("cannot use --oplogFile with --archive specified")
    if options.get("oplogReplay"):
        if options.get("nsInclude") or options.get("db"):
            raise Failed("cannot use --oplogReplay with includes specified")
        if options.get("nsExclude") or options.get("excludeCollection"):
            raise Failed("cannot use --oplogReplay with excludes specified")
        if options.get("nsFrom"):
            raise Failed("cannot use --oplogReplay with namespace renames specified")


@dataclass
class Restored:
    successes: int = 0
    failures: int = 0
    per_namespace: dict = field(default_factory=dict)


def _included(options: dict, namespace: str) -> bool:
    """--nsInclude/--nsExclude with * wildcards (mongorestore/ns/ns.go)."""
    import fnmatch

    includes = options.get("nsInclude") or ["*"]
    if not any(fnmatch.fnmatchcase(namespace, pattern) for pattern in includes):
        return False
    return not any(fnmatch.fnmatchcase(namespace, pattern) for pattern in options.get("nsExclude", []))


def _restore_collection(connection, options: dict, metadata: dict, documents: list[dict], result: Restored) -> None:
    from pymongo.errors import OperationFailure

    namespace = f"{metadata['db']}.{metadata['collection']}"
    database = connection[metadata["db"]]
    if options.get("drop"):
        log(f"dropping collection {quoted(namespace)} before restoring")
        database.drop_collection(metadata["collection"])
    existing = metadata["collection"] in database.list_collection_names()
    if not existing:
        database.command({"create": metadata["collection"], **metadata["options"]})
    log(f"restoring {quoted(namespace)} from {quoted(options.get('archive') or options['_source'])}")
    successes = failures = 0
    stop_on_error = options.get("stopOnError") or options.get("maintainInsertionOrder")
    for document in documents:
        try:
            database[metadata["collection"]].insert_one(document)
            successes += 1
        except OperationFailure as error:
            # Only duplicate keys (11000) and validation failures (121) are gone through,
            # logged and counted, and not with --stopOnError (common/db/db.go, FilterError).
            failures += 1
            if stop_on_error or error.code not in (11000, 121):
                result.successes += successes
                result.failures += failures
                raise Failed(
                    f"{namespace}: error restoring from {quoted(options['_source'])}: {error}", result
                ) from error
            log(f"continuing through error: {error.details.get('errmsg', error) if error.details else error}")
    if not options.get("noIndexRestore") and metadata["indexes"]:
        log(f"restoring indexes for collection {quoted(namespace)} from metadata")
        specs = [{key: value for key, value in spec.items() if key not in ("v", "ns")} for spec in metadata["indexes"]]
        database.command({"createIndexes": metadata["collection"], "indexes": specs})
    log(
        f"finished restoring {quoted(namespace)} ({successes} {plural(successes, 'document')}, "
        f"{failures} {plural(failures, 'failure')})"
    )
    result.successes += successes
    result.failures += failures
    result.per_namespace[namespace] = successes


def _read_directory(target: Path, compressed: bool) -> tuple[list[tuple[dict, list[dict]]], list[dict] | None]:
    """A dump directory as mongodump writes it: collections, and oplog.bson when present."""
    suffix = ".gz" if compressed else ""
    collections = []
    for data_file in sorted(target.glob(f"*/*.bson{suffix}")):
        raw = data_file.read_bytes()
        raw = gzip.decompress(raw) if compressed else raw
        meta_file = data_file.with_name(data_file.name.replace(f".bson{suffix}", f".metadata.json{suffix}"))
        meta = {"options": {}, "indexes": []}
        if meta_file.exists():
            text = meta_file.read_bytes()
            meta = json_util.loads(gzip.decompress(text) if compressed else text, json_options=JSON)
        name = data_file.name[: -len(f".bson{suffix}")]
        metadata = {"db": data_file.parent.name, "collection": name, **meta}
        collections.append((metadata, list(bson.decode_all(raw))))
    oplog_file = target / "oplog.bson"
    oplog = list(bson.decode_all(oplog_file.read_bytes())) if oplog_file.exists() else None
    return collections, oplog


def replay(connection, options: dict, entries: list[dict]) -> None:
    """--oplogReplay (mongorestore/oplog.go): each entry before --oplogLimit (exclusive),
    one applyOps each; no-ops skipped; UUIDs removed unless --preserveUUID."""
    from pymongo.errors import PyMongoError

    log("replaying oplog")
    limit = parse_oplog_limit(options["oplogLimit"]) if options.get("oplogLimit") else None
    applied = 0
    for entry in entries:
        command = next(iter(entry.get("o") or {"": 0})) if entry.get("op") == "c" else None
        if entry.get("op") == "n" or command in ("startIndexBuild", "abortIndexBuild", "setMultikeyMetadata"):
            continue
        if limit is not None and not entry["ts"] < limit:
            break
        applied += 1
        operation = {key: value for key, value in entry.items() if key != "ui"}
        try:
            if command == "createIndexes":
                # Not applied as an operation since 4.4: built as an index (oplog.go, HandleNonTxnOp).
                spec = {key: value for key, value in entry["o"].items() if key not in ("createIndexes", "v")}
                db_name = entry["ns"].partition(".")[0]
                connection[db_name].command({"createIndexes": entry["o"]["createIndexes"], "indexes": [spec]})
            else:
                connection.admin.command({"applyOps": [operation]})
        except PyMongoError as error:
            raise Failed(f"restore error: error applying oplog: applyOps: {error}") from error
    log(f"applied {applied} oplog entries")


def restore(options: dict, positional: list[str]) -> Restored:
    validate_restore(options, positional)
    connection = client(options)
    result = Restored()
    archive = options.get("archive")
    if archive:
        options["_source"] = archive
        lines = read_archive(archive, bool(options.get("gzip")))
        collections, current = [], None
        oplog: list[dict] | None = []
        for line in lines:
            if "collection" in line:
                current = (line["collection"], [])
                collections.append(current)
            elif "document" in line and current is not None:
                current[1].append(line["document"]["document"])
            elif "oplog" in line:
                oplog.append(line["oplog"])
        if not any("oplog" in line for line in lines):
            oplog = None
        log("preparing collections to restore from")
    else:
        target = Path(options.get("dir") or (positional[0] if positional else "dump"))
        if not target.exists():
            raise Failed(f"mongorestore target '{target}' invalid: stat {target}: no such file or directory")
        options["_source"] = str(target)
        collections, oplog = _read_directory(target, bool(options.get("gzip")))
        log("preparing collections to restore from")
    if options.get("oplogReplay") and oplog is None:
        raise Failed("no oplog file to replay; make sure you run mongodump with --oplog")
    if options.get("dryRun"):
        log("dry run completed")
        return result
    for metadata, documents in collections:
        if _included(options, f"{metadata['db']}.{metadata['collection']}"):
            _restore_collection(connection, options, metadata, documents, result)
    if options.get("oplogReplay"):
        replay(connection, options, oplog)
    return result


# -- entry point ------------------------------------------------------------------------


def _version(tool: str) -> None:
    print(f"{tool} version: {VERSION}\ngit version: standin\nGo version: none (the stand-in is Python)")
    print(f"   os: {sys.platform}\n   arch: {os.uname().machine}\n   compiler: none")


def main(tool: str, argv: list[str]) -> int:
    spec = DUMP if tool == "mongodump" else RESTORE
    try:
        options, positional = parse(spec, argv)
        read_config_file(options)
    except BadCommandLine as error:
        log(f"error parsing command line options: {error}")
        log(f"try '{tool} --help' for more information")
        return 1
    if options.get("version"):
        _version(tool)
        return 0
    if options.get("password") and "password" in [w.lstrip("-").split("=")[0] for w in argv]:
        # common/options/options.go, LogSensitiveOptionWarnings.
        log(
            "WARNING: On some systems, a password provided directly using --password may be visible to system "
            "status programs such as `ps` that may be invoked by other users. Consider omitting the password to "
            "provide it via stdin, or using the --config option to specify a configuration file with the password."
        )
    if tool == "mongodump":
        positional_uris = [word for word in positional if word.startswith(("mongodb://", "mongodb+srv://"))]
        if len(positional) > len(positional_uris) or len(positional_uris) > 1:
            log(
                "error parsing command line options: error parsing positional arguments: provide only one MongoDB "
                "connection string. Connection strings must begin with mongodb:// or mongodb+srv:// schemes"
            )
            log(f"try '{tool} --help' for more information")
            return 1
        if positional_uris:
            options["uri"] = positional_uris[0]
    else:
        uris = [word for word in positional if word.startswith(("mongodb://", "mongodb+srv://"))]
        if uris:
            options["uri"] = uris[0]
        positional = [word for word in positional if word not in uris]
    from pymongo.errors import PyMongoError

    try:
        if tool == "mongodump":
            dump(options)
            return 0
        result = restore(options, positional)
    except Failed as error:
        log(f"Failed: {error}")
        if tool == "mongorestore":
            done = error.result or Restored()
            log(f"{done.successes} document(s) restored successfully. {done.failures} document(s) failed to restore.")
        return 1
    except PyMongoError as error:
        log(f"Failed: {error}")
        return 1
    log(f"{result.successes} document(s) restored successfully. {result.failures} document(s) failed to restore.")
    return 0


def run(tool: str, argv: list[str]) -> None:
    """main(), then the process ends at once, as the Go tools do: pymongo's exit handler
    would wait about 0.5 s for its monitor threads to notice they are stopped (see
    run_and_exit_at_once in module_utils/mongodb_connection.py)."""
    code = main(tool, argv)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(ValueError, OSError):  # closed already by an --archive to stdout
            stream.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover - bin/mongodump and bin/mongorestore run run()
    run(Path(sys.argv[0]).name, sys.argv[1:])
