"""Configuration-file options the stand-in knows, per process kind and version.

Follows MongoDB's configuration-file reference,
https://www.mongodb.com/docs/manual/reference/configuration-options/ (8.0 and 7.0),
https://www.mongodb.com/docs/manual/reference/configuration-file-settings-command-line-options-mapping/,
and the option definitions in the server source (mongodb/mongo, r8.0):
- both binaries: src/mongo/db/server_options_general.idl, server_options_nongeneral.idl,
  src/mongo/util/net/ssl_options*.idl, src/mongo/db/auth/sasl_options.idl;
- mongod only: src/mongo/db/mongod_options_general.idl (security.authorization,
  operationProfiling.mode), mongod_options_storage.idl (storage.*),
  src/mongo/db/storage/wiredtiger/wiredtiger_global_options.idl (storage.wiredTiger.*),
  mongod_options_replication.idl (replication.replSetName, oplogSizeMB,
  enableMajorityReadConcern), mongod_options_sharding.idl (sharding.clusterRole,
  archiveMovedChunks);
- mongos only: src/mongo/s/mongos_options.idl (sharding.configDB,
  replication.localPingThresholdMs).
A real server exits with "Unrecognized option: <name>" (exit code 2, EXIT_BADOPTIONS)
for anything else, including options removed in earlier releases, such as
storage.journal.enabled (removed in 6.1), and options of the other binary (mongos does
not know storage.* or operationProfiling.mode). Enterprise-only options and the
deprecated net.ssl.* aliases are left out: the project renders neither.
"""

from __future__ import annotations

from typing import Any

BOOL = "bool"
INT = "int"
DOUBLE = "double"
STRING = "string"
STRINGS = "string-or-list"
MAP = "map"  # free-form subtree (setParameter, systemLog.component)

# Options shared by mongod and mongos.
COMMON: dict[str, Any] = {
    "systemLog.verbosity": INT,
    "systemLog.quiet": BOOL,
    "systemLog.traceAllExceptions": BOOL,
    "systemLog.syslogFacility": STRING,
    "systemLog.path": STRING,
    "systemLog.logAppend": BOOL,
    "systemLog.logRotate": ("rename", "reopen"),
    "systemLog.destination": ("file", "syslog"),
    "systemLog.timeStampFormat": ("iso8601-utc", "iso8601-local"),
    "systemLog.component": MAP,
    "processManagement.fork": BOOL,
    "processManagement.pidFilePath": STRING,
    "processManagement.timeZoneInfo": STRING,
    "net.port": INT,
    "net.bindIp": STRING,
    "net.bindIpAll": BOOL,
    "net.maxIncomingConnections": INT,
    "net.wireObjectCheck": BOOL,
    "net.ipv6": BOOL,
    "net.unixDomainSocket.enabled": BOOL,
    "net.unixDomainSocket.pathPrefix": STRING,
    "net.unixDomainSocket.filePermissions": INT,
    "net.tls.mode": ("disabled", "allowTLS", "preferTLS", "requireTLS"),
    "net.tls.certificateKeyFile": STRING,
    "net.tls.certificateKeyFilePassword": STRING,
    "net.tls.certificateSelector": STRING,
    "net.tls.clusterCertificateSelector": STRING,
    "net.tls.clusterFile": STRING,
    "net.tls.clusterPassword": STRING,
    "net.tls.clusterCAFile": STRING,
    "net.tls.CAFile": STRING,
    "net.tls.CRLFile": STRING,
    "net.tls.allowConnectionsWithoutCertificates": BOOL,
    "net.tls.allowInvalidCertificates": BOOL,
    "net.tls.allowInvalidHostnames": BOOL,
    "net.tls.disabledProtocols": STRING,
    "net.tls.FIPSMode": BOOL,
    "net.tls.logVersions": STRING,
    "net.tls.clusterAuthX509.attributes": STRING,
    "net.tls.clusterAuthX509.extensionValue": STRING,
    "net.compression.compressors": STRING,
    "security.keyFile": STRING,
    "security.clusterAuthMode": ("keyFile", "sendKeyFile", "sendX509", "x509"),
    "security.transitionToAuth": BOOL,
    "security.javascriptEnabled": BOOL,
    "security.redactClientLogData": BOOL,
    "security.sasl.hostName": STRING,
    "security.sasl.serviceName": STRING,
    "security.sasl.saslauthdSocketPath": STRING,
    "setParameter": MAP,
    "operationProfiling.slowOpThresholdMs": INT,
    "operationProfiling.slowOpSampleRate": DOUBLE,
    "operationProfiling.filter": MAP,
}

MONGOD_ONLY: dict[str, Any] = {
    "security.authorization": ("enabled", "disabled"),
    "security.clusterIpSourceAllowlist": STRINGS,
    "storage.dbPath": STRING,
    "storage.journal.commitIntervalMs": INT,
    "storage.directoryPerDB": BOOL,
    "storage.syncPeriodSecs": DOUBLE,
    "storage.engine": STRING,  # an unknown engine fails later, not while parsing
    "storage.oplogMinRetentionHours": DOUBLE,
    "storage.wiredTiger.engineConfig.cacheSizeGB": DOUBLE,
    "storage.wiredTiger.engineConfig.journalCompressor": ("none", "snappy", "zlib", "zstd"),
    "storage.wiredTiger.engineConfig.directoryForIndexes": BOOL,
    "storage.wiredTiger.engineConfig.zstdCompressionLevel": INT,
    "storage.wiredTiger.collectionConfig.blockCompressor": ("none", "snappy", "zlib", "zstd"),
    "storage.wiredTiger.indexConfig.prefixCompression": BOOL,
    "operationProfiling.mode": ("off", "slowOp", "all"),
    "replication.oplogSizeMB": INT,
    "replication.replSetName": STRING,
    "replication.enableMajorityReadConcern": BOOL,
    "sharding.clusterRole": ("configsvr", "shardsvr"),
    "sharding.archiveMovedChunks": BOOL,
}

MONGOS_ONLY: dict[str, Any] = {
    "sharding.configDB": STRING,
    "replication.localPingThresholdMs": INT,
}

# Ranges the server checks when it parses the options (IDL `validator:` entries; None is
# unbounded): net.port in server_options_general.idl; storage.syncPeriodSecs (0 to
# kMaxSyncdelaySecs), storage.journal.commitIntervalMs (1 to kMaxJournalCommitIntervalMs)
# and storage.oplogMinRetentionHours in mongod_options_storage.idl; cacheSizeGB in
# wiredtiger_global_options.idl.
RANGES = {
    "net.port": (0, 65535),
    "net.maxIncomingConnections": (1, None),
    "storage.syncPeriodSecs": (0.0, 9_000_000.0),
    "storage.journal.commitIntervalMs": (1, 500),
    "storage.oplogMinRetentionHours": (0.0, None),
    "storage.wiredTiger.engineConfig.cacheSizeGB": (0.25, 10000),
    "operationProfiling.slowOpSampleRate": (0.0, 1.0),
}
# replication.oplogSizeMB has no IDL range: mongod_options.cpp (storeMongodOptions) only
# refuses a size <= 0. The 990 MB minimum belongs to replSetResizeOplog, not to startup.
OPLOG_SIZE = "replication.oplogSizeMB"


def known_options(role: str) -> dict[str, Any]:
    specific = MONGOD_ONLY if role == "mongod" else MONGOS_ONLY
    return {**COMMON, **specific}


def _flatten(options: dict, prefix: str, known: dict[str, Any]):
    for key, value in options.items():
        path = f"{prefix}{key}"
        if known.get(path) == MAP:
            yield path, value
        elif isinstance(value, dict) and path not in known:
            yield from _flatten(value, path + ".", known)
        else:
            yield path, value


def _type_problem(path: str, kind: Any, value: Any) -> str | None:
    if isinstance(kind, tuple):
        if value not in kind:
            return f'Bad value for parameter "{path}": {value!r} is not one of {", ".join(kind)}'
        return None
    checks = {
        BOOL: lambda v: isinstance(v, bool),
        INT: lambda v: isinstance(v, int) and not isinstance(v, bool),
        DOUBLE: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        STRING: lambda v: isinstance(v, (str, int, float)) and not isinstance(v, bool),
        STRINGS: lambda v: isinstance(v, (str, list)),
        MAP: lambda v: isinstance(v, dict),
    }
    if not checks[kind](value):
        return f'Error parsing option "{path}" as {kind}: bad value {value!r}'
    if path == OPLOG_SIZE and value <= 0:
        return f"BadValue: bad --oplogSize, arg must be greater than 0,found: {value}"
    low, high = RANGES.get(path, (None, None))
    if (low is not None and value < low) or (high is not None and value > high):
        return f'Bad value for parameter "{path}": {value} is out of range [{low}, {high}]'
    return None


def first_problem(role: str, version: str, options: dict) -> str | None:
    """The message a real server prints for the first option it rejects, or None."""
    known = known_options(role)
    for path, value in _flatten(options, "", known):
        if path not in known:
            return f"Unrecognized option: {path}"
        problem = _type_problem(path, known[path], value)
        if problem:
            return problem
    return None
