#!/usr/bin/python
"""Read, in one go, the files and the process of one mongod or mongos on its host."""

from __future__ import annotations

DOCUMENTATION = r"""
module: mongodb_instance_state
short_description: Read the directories, files and process of one mongod or mongos
description:
  - Reads, in one module run, what the roles need to know about one MongoDB process on
    its host, without changing anything. For each declared path whether it exists and is
    as declared (type, mode, owner, group, and for a file its content, compared by SHA-1).
    With O(pid_file), whether the pid it holds is this very process.
  - A pid counts as this process only when C(/proc/<pid>/cmdline) starts with
    O(command_line) (the binary and its C(--config) file), the binary compared by its name
    only, since before an upgrade the running process may be the old binaries' from
    another directory. After a crash the pid file stays,
    and its pid may since belong to an unrelated process, which must never be taken for
    MongoDB nor sent a signal.
  - Read-only; runs the same in check mode, and needs only Python's standard library (it
    runs before the modules' virtualenv exists).
  - Written for this project because a converged run would otherwise read the same host
    once per path with C(ansible.builtin.stat) and C(ansible.builtin.slurp), one module
    start-up each; the roles run C(ansible.builtin.file), C(ansible.builtin.copy) and the
    process commands only where this module reports a difference.
options:
  paths:
    description: Paths to read, each with what it should be.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      type:
        description: What the path should be.
        type: str
        choices: [directory, file]
      mode:
        description: Permissions it should have, in octal (C("0750")).
        type: str
      owner:
        description: User that should own it.
        type: str
      group:
        description: Group that should own it.
        type: str
      sha1:
        description:
          - SHA-1 of the content a file should have. Only whether it matches is returned
            (RV(paths.same_content)), never the checksum found, since a keyfile's is derived
            from a secret.
        type: str
  read:
    description:
      - Files to return whole, as text (RV(contents)), such as the configuration the
        process runs with or the CA certificate it trusts. Only for small files that hold
        no secret; never a key or a keyfile.
    type: list
    elements: str
    default: []
  read_base64:
    description:
      - Small binary files to return whole, base64-encoded (RV(contents_base64)), such as
        the C(storage.bson) in which mongod records the storage options of a data
        directory. Never a key or a keyfile.
    type: list
    elements: str
    default: []
  pid_file:
    description: The process's pid file (C(processManagement.pidFilePath)). Omit it for a process under systemd.
    type: path
  command_line:
    description: The arguments this process was started with, at least the binary and C(--config <file>).
    type: list
    elements: str
    default: []
author: monitoring-store maintainers
"""

EXAMPLES = r"""
- name: Read the state of this mongod's files and process
  mongodb_instance_state:
    paths:
      - {path: /var/lib/mongodb/data, type: directory, owner: mongodb, group: mongodb, mode: "0700"}
      - path: /etc/mongodb/mongod-27017.conf
        type: file
        owner: root
        group: mongodb
        mode: "0640"
        sha1: "{{ config_text | hash('sha1') }}"
    pid_file: /run/mongodb/mongod-27017.pid
    command_line: [/usr/bin/mongod, --config, /etc/mongodb/mongod-27017.conf]
  register: instance
"""

RETURN = r"""
operations:
  description:
    - Commands sent that change something, always empty since this module only reads.
      The key is there so every module of the project returns the same keys.
  returned: always
  type: list
  elements: dict
  sample: []
paths:
  description: What was found at each declared path, keyed by the path.
  returned: always
  type: dict
  contains:
    exists:
      description: Whether the path exists.
      type: bool
    type:
      description: C(directory), C(file) or C(other); only when it exists.
      type: str
    mode:
      description: Its permissions in octal, such as C("0750"); only when it exists.
      type: str
    owner:
      description: The user owning it; only when it exists.
      type: str
    group:
      description: The group owning it; only when it exists.
      type: str
    same_content:
      description: Whether a file's content has the declared SHA-1; only when one was declared and the file exists.
      type: bool
    as_declared:
      description: Whether the path exists and every declared attribute matches.
      type: bool
  sample:
    /var/lib/mongodb/data:
      {exists: true, type: directory, mode: "0700", owner: mongodb, group: mongodb, as_declared: true}
differing:
  description:
    - The declared paths that are not as declared, in the order declared. A role's
      file tasks loop over these, so on a converged host they have nothing to do.
  returned: always
  type: list
  elements: str
  sample: [/etc/mongodb/mongod-27017.conf]
contents:
  description: The text of each file of O(read), keyed by the path as given; null where it is missing or unreadable.
  returned: always
  type: dict
  sample:
    /etc/mongodb/mongod-27017.conf: "net:\n  port: 27017\n"
    /etc/mongodb/tls/ca.pem: null
contents_base64:
  description:
    - The base64 of each file of O(read_base64), keyed by the path as given; null where it
      is missing or unreadable.
  returned: always
  type: dict
  sample:
    /var/lib/mongodb/mongod-27017/storage.bson: "RwAAAAM..."
    /var/lib/mongodb/mongod-27018/storage.bson: null
pid:
  description: The pid the pid file holds, or null when there is no readable pid.
  returned: always
  type: int
running:
  description: Whether that pid is this very process (its command line is O(command_line), binary by name).
  returned: always
  type: bool
stale_pid_file:
  description: Whether a pid file exists whose pid is not this process (left behind by a crash).
  returned: always
  type: bool
"""

import base64
import grp
import hashlib
import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.mongodb_instance import as_declared, names_this_process, observed, pid_in


def argument_spec() -> dict:
    return {
        "paths": {
            "type": "list",
            "elements": "dict",
            "default": [],
            "options": {
                "path": {"type": "path", "required": True},
                "type": {"type": "str", "choices": ["directory", "file"]},
                "mode": {"type": "str"},
                "owner": {"type": "str"},
                "group": {"type": "str"},
                "sha1": {"type": "str", "no_log": True},
            },
        },
        "read": {"type": "list", "elements": "str", "default": []},
        "read_base64": {"type": "list", "elements": "str", "default": []},
        "pid_file": {"type": "path"},
        "command_line": {"type": "list", "elements": "str", "default": []},
    }


def _name(lookup, number: int) -> str:
    try:
        return lookup(number)[0]
    except KeyError:
        return str(number)


def _sha1(path: str) -> str:
    digest = hashlib.sha1()  # compared with Ansible's hash('sha1'); not for security
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(65536), b""):
            digest.update(block)
    return digest.hexdigest()


def read_path(declared: dict) -> dict:
    try:
        status = os.stat(declared["path"])
    except FileNotFoundError:
        status = None
    found = (
        observed(status, _name(pwd.getpwuid, status.st_uid), _name(grp.getgrgid, status.st_gid))
        if status
        else observed(None, None, None)
    )
    if declared.get("sha1") and found.get("type") == "file":
        found["same_content"] = _sha1(declared["path"]) == declared["sha1"]
    found["as_declared"] = as_declared(declared, found)
    return found


def read_paths(declared: list[dict]) -> tuple[dict, list[str]]:
    """What was found at each declared path, and the paths not as declared."""
    paths = {each["path"]: read_path(each) for each in declared}
    return paths, [path for path, found in paths.items() if not found["as_declared"]]


def read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.read()
    except (OSError, UnicodeDecodeError):
        return None


def read_base64(path: str) -> str | None:
    try:
        with open(path, "rb") as stream:
            return base64.b64encode(stream.read()).decode("ascii")
    except OSError:
        return None


def read_process(pid_file: str | None, command_line: list[str]) -> dict:
    try:
        with open(pid_file or "", encoding="utf-8") as stream:
            text = stream.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        return {"pid": None, "running": False, "stale_pid_file": False}
    pid = pid_in(text)
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            running = pid is not None and names_this_process(stream.read(), command_line)
    except OSError:
        running = False
    return {"pid": pid, "running": running, "stale_pid_file": not running}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    paths, differing = read_paths(module.params["paths"])
    process = read_process(module.params["pid_file"], module.params["command_line"])
    contents = {path: read_text(path) for path in module.params["read"]}
    contents_base64 = {path: read_base64(path) for path in module.params["read_base64"]}
    module.exit_json(
        changed=False,
        operations=[],
        paths=paths,
        differing=differing,
        contents=contents,
        contents_base64=contents_base64,
        **process,
    )


if __name__ == "__main__":
    main()
