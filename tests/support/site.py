"""What the site.yml tests share: the environment, the inventory layers, log readers."""

from __future__ import annotations

import json
from pathlib import Path

from support import servers

SITE = "playbooks/site.yml"
# The shared sandbox runs the way production does where this machine allows it: each
# process advertises a non-loopback address of this machine, so only a member's own
# loopback connection gets MongoDB's localhost exception, and shard 02 has an arbiter.
ADVERTISED_ADDRESS = servers.non_loopback_address()
SANDBOX_INVENTORY = (
    ("-i", "inventories/sandbox", "-i", "tests/inventories/advertised-address.yml") if ADVERTISED_ADDRESS else ()
)


def env(root: Path, port_offset: int = 0) -> dict:
    """Environment of a site.yml run under root, on the binaries the tests use, with the
    sandbox's ports moved by port_offset."""
    return {
        "MONGODB_SANDBOX_ROOT": str(root),
        "MONGODB_SANDBOX_PORT_OFFSET": str(port_offset),
        "MONGODB_BIN_DIR": str(servers.bin_dir()),
        "MONGODB_TOOLS_BIN_DIR": str(servers.tools_bin_dir()),
        "MONGODB_TEST_ADVERTISED_ADDRESS": ADVERTISED_ADDRESS or "",
    }


def host_dirs(root: Path) -> list[str]:
    return sorted(path.name for path in root.glob("sandbox-*"))


def refused_for_privileges(logs: list[Path]) -> list[str]:
    """Commands the servers refused with 13 (Unauthorized) in these command logs.

    An anonymous client's endSessions on close is refused by a real server too, harmlessly.
    """
    refused = []
    for log in logs:
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        refused += [
            f"{log.parent.parent.name}: {entry['command']}"
            for entry in entries
            if entry.get("code") == 13 and entry["command"] != "endSessions"
        ]
    return refused


def created_users_on(logs: list[Path]) -> set[str]:
    return {log.parent.parent.name for log in logs if '"command": "createUser"' in log.read_text()}
