"""Host sizing checks against a hardware profile, as an Ansible filter.

`ansible_facts | mongodb_host_shortfalls(profile, data_path, ...)` returns one
sentence per shortfall. Pure: it reads gathered facts only, so it runs the same in
check mode and in tests.
"""

from __future__ import annotations

import os


def _mount_of(path: str, mounts: list[dict]) -> dict:
    """The mount holding path: the longest mount point that is a prefix of it."""
    best: dict = {}
    target = path.rstrip("/") + "/"
    for mount in mounts:
        point = mount.get("mount", "")
        if target.startswith(point.rstrip("/") + "/") and len(point) > len(best.get("mount", "")):
            best = mount
    return best


def _disk_of(device: str, devices: dict) -> tuple[str, dict] | None:
    """The disk (from ansible_facts.devices) a block device such as /dev/sda1 belongs to."""
    name = os.path.basename(device)
    if name in devices:
        return name, devices[name]
    for disk, info in devices.items():
        if name in info.get("partitions", {}):
            return disk, info
    return None


def mongodb_host_shortfalls(
    facts: dict,
    profile: dict,
    data_path: str,
    filesystems: list[str],
    min_free_gb: float,
    supported_os: dict,
    series: str,
) -> list[str]:
    """Every way this host falls short of profile for MongoDB series."""
    shortfalls = []
    cores = int(facts.get("processor_vcpus") or facts.get("processor_cores") or 0)
    memory_gb = facts.get("memtotal_mb", 0) / 1024
    if cores < profile.get("cores", 0):
        shortfalls.append(f"has {cores} CPU cores, the profile needs {profile['cores']}")
    # Firmware and the kernel keep some RAM back: allow 5% below the nominal size.
    if memory_gb < profile.get("memory_gb", 0) * 0.95:
        shortfalls.append(f"has {memory_gb:.1f} GB RAM, the profile needs {profile['memory_gb']}")

    mount = _mount_of(data_path, facts.get("mounts", []))
    fstype = mount.get("fstype", "unknown")
    if fstype not in filesystems:
        shortfalls.append(f"data path {data_path} is on {fstype}, expected {' or '.join(filesystems)}")
    free_gb = mount.get("size_available", 0) / 1024**3
    if free_gb < min_free_gb:
        shortfalls.append(f"data path {data_path} has {free_gb:.1f} GB free, needs {min_free_gb}")

    storage = profile.get("storage")
    disk = _disk_of(mount.get("device", ""), facts.get("devices", {}))
    if storage and disk is not None:
        name, info = disk
        if str(info.get("rotational", "0")) == "1":
            shortfalls.append(f"data path {data_path} is on a rotational disk ({name}), the profile needs {storage}")
        elif storage == "nvme" and not name.startswith("nvme"):
            shortfalls.append(f"data path {data_path} is on {name}, the profile needs an NVMe device")

    distribution = facts.get("distribution", "unknown")
    major = str(facts.get("distribution_major_version", ""))
    if major not in supported_os.get(distribution, []):
        shortfalls.append(f"{distribution} {major} is not a supported platform for MongoDB {series}")
    return shortfalls


def mongodb_data_disk(facts: dict, data_path: str) -> str:
    """Name of the disk (e.g. sda, nvme0n1) holding data_path, or "" when unknown."""
    mount = _mount_of(data_path, facts.get("mounts", []))
    disk = _disk_of(mount.get("device", ""), facts.get("devices", {}))
    return disk[0] if disk else ""


class FilterModule:
    def filters(self):
        return {"mongodb_host_shortfalls": mongodb_host_shortfalls, "mongodb_data_disk": mongodb_data_disk}
