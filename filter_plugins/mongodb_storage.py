"""Read the storage options mongod records in <dbPath>/storage.bson, as an Ansible filter.

mongod writes {storage: {engine, options: {directoryPerDB, directoryForIndexes}}} there
when it creates a data directory and refuses to start with different values later.
`slurped_content | mongodb_storage_options` decodes the base64 text that
ansible.builtin.slurp returns; an empty input (no file yet) gives {}.
"""

from __future__ import annotations

import base64

from ansible.errors import AnsibleFilterError

try:
    import bson
except ImportError:  # pragma: no cover - pymongo is a project requirement
    bson = None


def mongodb_storage_options(content: str | None) -> dict:
    if not content:
        return {}
    if bson is None:
        raise AnsibleFilterError("mongodb_storage_options needs pymongo's bson package on the controller")
    try:
        document = bson.decode(base64.b64decode(content))
    except Exception as error:
        raise AnsibleFilterError(f"storage.bson could not be decoded: {error}") from error
    return dict(document.get("storage", {}).get("options", {}))


class FilterModule:
    def filters(self):
        return {"mongodb_storage_options": mongodb_storage_options}
