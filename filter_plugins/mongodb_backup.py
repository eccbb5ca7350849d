"""Filters of the backup role's playbooks."""

from __future__ import annotations

import hashlib


def mongodb_backup_summed(counts: list[dict]) -> dict[str, int]:
    """{namespace: documents} of several restores (one per replica set), added up."""
    total: dict[str, int] = {}
    for each in counts:
        for namespace, count in each.items():
            total[namespace] = total.get(namespace, 0) + int(count)
    return dict(sorted(total.items()))


def mongodb_declared_files(files: list[dict]) -> list[dict]:
    """What mongodb_instance_state should find for files written from their content
    (path, owner, group, mode, content): each file's attributes and its content's SHA-1,
    as Ansible's hash('sha1') computes it; the content itself is left out."""
    return [
        {
            "path": each["path"],
            "type": "file",
            "owner": each["owner"],
            "group": each["group"],
            "mode": each["mode"],
            "sha1": hashlib.sha1(str(each["content"]).encode("utf-8")).hexdigest(),
        }
        for each in files
    ]


class FilterModule:
    def filters(self):
        return {"mongodb_backup_summed": mongodb_backup_summed, "mongodb_declared_files": mongodb_declared_files}
