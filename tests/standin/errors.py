"""Server error codes the stand-in answers with, and the two shapes errors take.

Codes and names follow src/mongo/base/error_codes.yml in the MongoDB server source;
clients and the project's modules key on the number, tests on the number and name.
A code without a name there (a uassert location such as 40415) is "Location<code>".

Two shapes, as the server answers them:
- a command error: {ok: 0, errmsg, code, codeName} (CommandError.reply);
- a write error: the command succeeds ({ok: 1, n, ...}) and carries
  writeErrors: [{index, code, errmsg, ...}] for the statements that failed
  (write_error below; src/mongo/db/ops/write_ops_exec.cpp, and
  https://www.mongodb.com/docs/manual/reference/command/insert/#output).
  Duplicate keys (11000) and document validation (121) are write errors.
"""

from __future__ import annotations

CODE_NAMES = {
    2: "BadValue",
    9: "FailedToParse",
    11: "UserNotFound",
    13: "Unauthorized",
    14: "TypeMismatch",
    18: "AuthenticationFailed",
    20: "IllegalOperation",
    23: "AlreadyInitialized",
    26: "NamespaceNotFound",
    27: "IndexNotFound",
    40: "ConflictingUpdateOperators",
    43: "CursorNotFound",
    48: "NamespaceExists",
    59: "CommandNotFound",
    66: "ImmutableField",
    67: "CannotCreateIndex",
    72: "InvalidOptions",
    73: "InvalidNamespace",
    85: "IndexOptionsConflict",
    86: "IndexKeySpecsConflict",
    93: "InvalidReplicaSetConfig",
    94: "NotYetInitialized",
    103: "NewReplicaSetConfigurationIncompatible",
    115: "CommandNotSupported",
    121: "DocumentValidationFailure",
    166: "CommandNotSupportedOnView",
    168: "InvalidPipelineOperator",
    197: "InvalidIndexSpecificationOption",
    11000: "DuplicateKey",
}


class CommandError(Exception):
    """A failure with a server code; answered as a command error unless a write
    command turns it into one of its writeErrors (write_error)."""

    def __init__(self, code: int, message: str, code_name: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.code = code
        self.code_name = code_name or CODE_NAMES.get(code, f"Location{code}")
        self.message = message
        # Fields the server adds to this error (keyPattern/keyValue of a duplicate key,
        # errInfo of a validation failure).
        self.extra = extra or {}

    def reply(self) -> dict:
        return {"ok": 0.0, "errmsg": self.message, "code": self.code, "codeName": self.code_name, **self.extra}


def write_error(index: int, error: CommandError) -> dict:
    """One entry of a write command's writeErrors array."""
    return {"index": index, "code": error.code, "errmsg": error.message, **error.extra}
