"""Connection handling shared by the project's MongoDB modules.

Modules import this as ``ansible.module_utils.mongodb_connection``. The common
argument spec lives here (its documentation is the doc fragment
doc_fragments/mongodb_connection.py) so every module takes the same connection options
the same way, with the password marked ``no_log``.
"""

from __future__ import annotations

import os
import socket
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any

try:
    import pymongo
    from pymongo.errors import OperationFailure, PyMongoError

    HAS_PYMONGO = True
    PYMONGO_IMPORT_ERROR = None
except ImportError as error:  # pragma: no cover - reported by the module
    pymongo = None
    OperationFailure = PyMongoError = Exception
    HAS_PYMONGO = False
    PYMONGO_IMPORT_ERROR = error


def connection_argument_spec() -> dict[str, Any]:
    return {
        "login_host": {"type": "str", "default": "127.0.0.1"},
        "login_port": {"type": "int", "default": 27017},
        "login_user": {"type": "str"},
        "login_password": {"type": "str", "no_log": True},
        "login_database": {"type": "str", "default": "admin"},
        "direct_connection": {"type": "bool", "default": True},
        "tls": {"type": "bool", "default": False},
        "tls_ca_file": {"type": "path"},
        "tls_certificate_key_file": {"type": "path"},
        "tls_certificate_key_file_password": {"type": "str", "no_log": True},
        "connect_timeout": {"type": "int", "default": 10},
    }


def client_options(params: dict) -> dict[str, Any]:
    """Keyword arguments for pymongo.MongoClient from the module parameters."""
    timeout_ms = params["connect_timeout"] * 1000
    options: dict[str, Any] = {
        "host": params["login_host"],
        "port": params["login_port"],
        "directConnection": params["direct_connection"],
        "serverSelectionTimeoutMS": timeout_ms,
        "connectTimeoutMS": timeout_ms,
        "appname": "ansible-mongodb-monitoring",
    }
    if params.get("login_user"):
        options.update(
            username=params["login_user"],
            password=params.get("login_password") or "",
            authSource=params["login_database"],
        )
    if params.get("tls"):
        options["tls"] = True
        if params.get("tls_ca_file"):
            options["tlsCAFile"] = params["tls_ca_file"]
        if params.get("tls_certificate_key_file"):
            # The client certificate a server with a CA file asks for (net.tls.CAFile).
            options["tlsCertificateKeyFile"] = params["tls_certificate_key_file"]
            if params.get("tls_certificate_key_file_password"):
                options["tlsCertificateKeyFilePassword"] = params["tls_certificate_key_file_password"]
    return options


def run_and_exit_at_once(main: Callable[[], None]) -> None:
    """Run a module's main(), and end its process as soon as main() has written the result.

    pymongo stops its monitor threads when Python exits and waits for each of them to
    notice (an atexit handler: pymongo/synchronous/monitor.py, _shutdown_resources); they
    look every half second (common.MIN_HEARTBEAT_INTERVAL), so every module run that
    used a client waited about 0.5 s after its result: a ping module run took 0.8 s here,
    0.27 s when it ended at once. exit_json and fail_json have printed the result by the
    time they raise SystemExit, and nothing else is left to do but flush it.
    """
    try:
        main()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 0 if done.code is None else 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def connect(params: dict):
    """A client for the server; the first command raises PyMongoError if it cannot be reached.

    No ping first: a module's first read (listCollections, hello...) proves the
    connection, so a converged run costs no extra round trip.
    """
    return pymongo.MongoClient(**client_options(params))


def wait_for_ping(params: dict, timeout: float, interval: float = 1.0) -> tuple[bool, str]:
    """Ping until the server answers or timeout seconds pass; returns (answered, last error)."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            client = pymongo.MongoClient(**{**client_options(params), "serverSelectionTimeoutMS": 2000})
            try:
                client.admin.command("ping")
                return True, ""
            finally:
                client.close()
        except PyMongoError as error:
            last_error = str(error)
        if time.monotonic() >= deadline:
            return False, last_error
        time.sleep(interval)


class LoginRefused(Exception):
    """The server refused the login and no other way in applies; the message says which user."""


def _login_refused(params: dict, why: str) -> LoginRefused:
    return LoginRefused(
        f"the login of user {params['login_user']}@{params['login_database']} was refused by "
        f"{params['login_host']}:{params['login_port']} ({why}); check login_password"
    )


def connect_checked(params: dict, allow_localhost_exception: bool = False):
    """(client, authenticated) for a server, proven with one ping; authenticated is False
    only when the localhost exception stands in for a refused login.

    When the credentials are refused (code 18) and allow_localhost_exception is set,
    connect again without them: before the first user exists, MongoDB's localhost
    exception lets a client on a loopback connection to this very mongod create the
    first user and run replSetInitiate, replSetReconfig and replSetGetStatus (and
    nothing else: src/mongo/db/auth/authorization_session_impl.cpp,
    _getDefaultPrivileges). replSetGetStatus is the probe: it is refused (13) once a
    user exists, so a wrong password is told apart from a server without users. A
    re-run after the user exists authenticates normally. Raises LoginRefused otherwise.
    """
    client = pymongo.MongoClient(**client_options(params))
    try:
        client.admin.command("ping")
        return client, True
    except OperationFailure as error:
        client.close()
        if error.code != 18:
            raise
        if not allow_localhost_exception:
            raise _login_refused(params, "authentication failed") from error
    anonymous = {**params, "login_user": None, "login_password": None}
    client = pymongo.MongoClient(**client_options(anonymous))
    try:
        client.admin.command("replSetGetStatus")
    except OperationFailure as error:
        if error.code == 13:
            client.close()
            raise _login_refused(
                params,
                "authentication failed, and the localhost exception does not apply: the server has users, or "
                "this is not a loopback connection to it",
            ) from error
    return client, False


def client_for(params: dict, host: str, authenticated: bool):
    """A direct client for another member, with the same credentials when they worked."""
    name, _, port = host.rpartition(":")
    other = {**params, "login_host": name, "login_port": int(port), "direct_connection": True}
    if not authenticated:
        other.update(login_user=None, login_password=None)
    return pymongo.MongoClient(**client_options(other))


def hello_of(params: dict, address: str) -> dict:
    """hello of one process (it needs no login), {} when it does not answer."""
    client = client_for(params, address, False)
    try:
        return client.admin.command("hello")
    except PyMongoError:
        return {}
    finally:
        client.close()


def presented_certificate_serial(params: dict) -> str:
    """Serial number (lowercase hexadecimal) of the certificate the server at login_host:
    login_port presents to a new TLS connection, verified against tls_ca_file and with
    this client's certificate, as the modules connect."""
    context = ssl.create_default_context(cafile=params.get("tls_ca_file"))
    if params.get("tls_certificate_key_file"):
        context.load_cert_chain(
            params["tls_certificate_key_file"], password=params.get("tls_certificate_key_file_password")
        )
    timeout = params["connect_timeout"]
    # Nested, not parenthesized: modules also run on hosts' Python 3.8 (Ubuntu focal).
    with socket.create_connection((params["login_host"], params["login_port"]), timeout=timeout) as raw:  # noqa: SIM117
        with context.wrap_socket(raw, server_hostname=params["login_host"]) as connection:
            return format(int(connection.getpeercert()["serialNumber"], 16), "x")
