"""Server error codes the stand-in answers with.

Codes and names follow src/mongo/base/error_codes.yml in the MongoDB server source;
clients and the project's modules key on the number, tests on the number and name.
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
    48: "NamespaceExists",
    59: "CommandNotFound",
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
    197: "InvalidIndexSpecificationOption",
    11000: "DuplicateKey",
    40414: "Location40414",
}


class CommandError(Exception):
    """A command failure, answered as {ok: 0, errmsg, code, codeName}."""

    def __init__(self, code: int, message: str, code_name: str | None = None):
        super().__init__(message)
        self.code = code
        self.code_name = code_name or CODE_NAMES.get(code, f"Location{code}")
        self.message = message

    def reply(self) -> dict:
        return {"ok": 0.0, "errmsg": self.message, "code": self.code, "codeName": self.code_name}
