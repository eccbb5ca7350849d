"""Which inventory hosts share a machine, as Ansible filters.

One inventory host is one MongoDB process; several may run on one machine (the
sandbox, or more than one instance per server). A machine is named by the host's
``ansible_host`` (or its inventory name when that is unset).

Every filter reads other hosts' variables from a mapping of host to variables: Ansible's
``hostvars``, or the smaller one ``mongodb_topology_vars`` makes once per run. Reading a
host through ``hostvars`` computes all of that host's variables, every time: per host,
per task, for every other host, that was most of a converged run's time.
"""

from __future__ import annotations

from collections.abc import Mapping

# The inventory variables these filters (and the roles' per-machine decisions) read.
TOPOLOGY_VARS = (
    "ansible_host",
    "mongodb_advertised_host",
    "mongodb_port",
    "mongodb_replset_name",
    "mongodb_replset_member",
    "mongodb_cluster_role",
    "mongodb_mongod_max_incoming_connections",
)


def mongodb_topology_vars(hosts: list[str], hostvars: Mapping) -> dict[str, dict]:
    """{host: the TOPOLOGY_VARS its inventory sets}, reading each host once."""
    topology = {}
    for host in hosts:
        variables = hostvars[host]
        topology[host] = {name: variables[name] for name in TOPOLOGY_VARS if name in variables}
    return topology


def _machine(hostvars: Mapping, host: str) -> str:
    return str((hostvars.get(host) or {}).get("ansible_host", host))


def mongodb_colocated(hosts: list[str], hostvars: Mapping, host: str) -> list[str]:
    """The hosts, in order, that run on the same machine as host (host included)."""
    machine = _machine(hostvars, host)
    return [other for other in hosts if _machine(hostvars, other) == machine]


def mongodb_data_bearing(hosts: list[str], hostvars: Mapping) -> list[str]:
    """The hosts that are not arbiters (mongodb_replset_member.arbiter_only)."""
    return [host for host in hosts if not hostvars[host].get("mongodb_replset_member", {}).get("arbiter_only", False)]


def mongodb_member_address(host: str, hostvars: Mapping) -> str:
    """host:port others use to reach host's process (mongodb_advertised_host, mongodb_port).

    Falls back like mongodb's defaults: ansible_host, then the inventory name,
    and port 27017.
    """
    variables = hostvars[host]
    name = variables.get("mongodb_advertised_host") or variables.get("ansible_host", host)
    return f"{name}:{int(variables.get('mongodb_port', 27017))}"


def mongodb_host_with_address(hosts: list[str], hostvars: Mapping, address: str | None) -> str | None:
    """The inventory host whose member address (host:port) is address, or None."""
    return next((host for host in hosts if mongodb_member_address(host, hostvars) == address), None)


def mongodb_member_addresses(hosts: list[str], hostvars: Mapping) -> list[str]:
    return [mongodb_member_address(host, hostvars) for host in hosts]


def mongodb_replset_hosts(hosts: list[str], hostvars: Mapping, set_name: str) -> list[str]:
    """The hosts, in inventory order, whose mongodb_replset_name is set_name."""
    return [host for host in hosts if hostvars[host].get("mongodb_replset_name", "") == set_name]


def mongodb_replset_members(hosts: list[str], hostvars: Mapping, set_name: str) -> list[dict]:
    """The declared members of set_name: host:port plus each host's mongodb_replset_member."""
    return [
        {"host": mongodb_member_address(host, hostvars), **dict(hostvars[host].get("mongodb_replset_member") or {})}
        for host in mongodb_replset_hosts(hosts, hostvars, set_name)
    ]


def mongodb_replica_sets(hosts: list[str], hostvars: Mapping) -> list[dict]:
    """Every replica set of the hosts, in inventory order: {name, role, members}, role
    being configsvr, shardsvr or replica (a set outside a sharded cluster); members are
    the host:port addresses of its data-bearing members."""
    sets: dict[str, dict] = {}
    for host in hosts:
        variables = hostvars.get(host) or {}
        name = variables.get("mongodb_replset_name", "")
        if not name:
            continue
        entry = sets.setdefault(
            name, {"name": name, "role": variables.get("mongodb_cluster_role") or "replica", "members": []}
        )
        if not (variables.get("mongodb_replset_member") or {}).get("arbiter_only", False):
            entry["members"].append(mongodb_member_address(host, hostvars))
    return list(sets.values())


def mongodb_process_groups(hosts: list[str], hostvars: Mapping) -> list[dict]:
    """Every replica set of the hosts with all its members (arbiters too), then the
    routers: [{name, members: [host:port], hosts: [inventory host]}], the config server
    set first, then the other sets in inventory order (the health check's groups, and the
    order a rolling restart takes them in)."""
    groups: dict[str, dict] = {}
    for host in hosts:
        variables = hostvars.get(host) or {}
        router = "mongodb_mongos" in variables.get("group_names", [])
        name = "routers" if router else variables.get("mongodb_replset_name", "")
        if name:
            rank = 2 if router else 0 if variables.get("mongodb_cluster_role") == "configsvr" else 1
            entry = groups.setdefault(name, {"name": name, "members": [], "hosts": [], "rank": rank})
            entry["members"].append(mongodb_member_address(host, hostvars))
            entry["hosts"].append(host)
    ordered = sorted(groups.values(), key=lambda group: group["rank"])
    return [{key: value for key, value in group.items() if key != "rank"} for group in ordered]


def mongodb_shard_connections(groups: Mapping, hostvars: Mapping) -> list[dict]:
    """One {name, connection} per mongodb_shard_<name> group: <set>/<host:port>,... as addShard takes it."""
    shards = []
    for group in sorted(name for name in groups if name.startswith("mongodb_shard_")):
        hosts = list(groups[group])
        if not hosts:
            continue
        set_name = hostvars[hosts[0]].get("mongodb_replset_name", "")
        # addShard checks every seed host against the hosts/passives/arbiters the set
        # advertises in hello, where hidden members do not appear.
        visible = [h for h in hosts if not hostvars[h].get("mongodb_replset_member", {}).get("hidden", False)]
        members = ",".join(mongodb_member_addresses(mongodb_data_bearing(visible, hostvars), hostvars))
        shards.append({"name": set_name, "connection": f"{set_name}/{members}"})
    return shards


def mongodb_machine_read(hosts: list[str], hostvars: Mapping) -> dict:
    """The read of one machine that mongodb_mongod's validate registered on the first of
    its mongods that answered (__mongodb_mongod_machine_read), found among hosts (that
    machine's mongods), or {} when none of them made it."""
    for host in hosts:
        read = hostvars[host].get("__mongodb_mongod_machine_read") or {}
        if "contents" in read:
            return read
    return {}


class FilterModule:
    def filters(self):
        return {
            "mongodb_colocated": mongodb_colocated,
            "mongodb_data_bearing": mongodb_data_bearing,
            "mongodb_host_with_address": mongodb_host_with_address,
            "mongodb_machine_read": mongodb_machine_read,
            "mongodb_member_addresses": mongodb_member_addresses,
            "mongodb_replset_hosts": mongodb_replset_hosts,
            "mongodb_process_groups": mongodb_process_groups,
            "mongodb_replica_sets": mongodb_replica_sets,
            "mongodb_replset_members": mongodb_replset_members,
            "mongodb_shard_connections": mongodb_shard_connections,
            "mongodb_topology_vars": mongodb_topology_vars,
        }
