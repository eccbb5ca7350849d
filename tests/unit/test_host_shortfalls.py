"""Sizing checks of filter_plugins/mongodb_preflight.py against gathered facts."""

from __future__ import annotations

from mongodb_preflight import mongodb_host_shortfalls

MINIMUM = {"cores": 8, "memory_gb": 32, "storage": "ssd"}
HIGH_VOLUME = {"cores": 16, "memory_gb": 64, "storage": "nvme"}
SUPPORTED = {"Ubuntu": ["22", "24"], "Debian": ["12"]}
GB = 1024**3


def facts(
    cores=8, memory_mb=32 * 1024, fstype="xfs", free_gb=500, rotational="0", disk="sda", distro="Ubuntu", major="24"
):
    return {
        "processor_vcpus": cores,
        "memtotal_mb": memory_mb,
        "distribution": distro,
        "distribution_major_version": major,
        "mounts": [
            {"mount": "/", "device": "/dev/vda1", "fstype": "ext4", "size_available": 10 * GB},
            {"mount": "/var/lib/mongodb", "device": f"/dev/{disk}1", "fstype": fstype, "size_available": free_gb * GB},
        ],
        "devices": {
            "vda": {"rotational": "1", "partitions": {"vda1": {}}},
            disk: {"rotational": rotational, "partitions": {f"{disk}1": {}}},
        },
    }


def shortfalls(host_facts, profile=MINIMUM, path="/var/lib/mongodb/mongod-27017"):
    return mongodb_host_shortfalls(host_facts, profile, path, ["xfs"], 20, SUPPORTED, "8.0")


def test_a_host_that_meets_the_minimum_has_no_shortfall():
    assert shortfalls(facts()) == []


def test_small_memory_and_few_cores_are_named():
    found = shortfalls(facts(cores=4, memory_mb=16 * 1024))
    assert "has 4 CPU cores, the profile needs 8" in found
    assert "has 16.0 GB RAM, the profile needs 32" in found


def test_memory_slightly_under_nominal_is_accepted():
    assert shortfalls(facts(memory_mb=31 * 1024)) == []


def test_the_data_path_mount_is_the_longest_prefix():
    found = shortfalls(facts(), path="/srv/data")
    assert any("is on ext4, expected xfs" in f for f in found)
    assert any("10.0 GB free, needs 20" in f for f in found)
    assert any("rotational disk (vda)" in f for f in found)


def test_spinning_disk_fails_the_ssd_profile():
    assert any("rotational" in f for f in shortfalls(facts(rotational="1")))


def test_high_volume_needs_nvme():
    found = shortfalls(facts(cores=16, memory_mb=64 * 1024), profile=HIGH_VOLUME)
    assert found == ["data path /var/lib/mongodb/mongod-27017 is on sda, the profile needs an NVMe device"]
    assert shortfalls(facts(cores=16, memory_mb=64 * 1024, disk="nvme0n1"), profile=HIGH_VOLUME) == []


def test_unsupported_platform_is_named():
    assert "Debian 11 is not a supported platform for MongoDB 8.0" in shortfalls(facts(distro="Debian", major="11"))
