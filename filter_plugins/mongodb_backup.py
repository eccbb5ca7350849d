"""Filters of the backup role's playbooks."""

from __future__ import annotations


def mongodb_backup_summed(counts: list[dict]) -> dict[str, int]:
    """{namespace: documents} of several restores (one per replica set), added up."""
    total: dict[str, int] = {}
    for each in counts:
        for namespace, count in each.items():
            total[namespace] = total.get(namespace, 0) + int(count)
    return dict(sorted(total.items()))


class FilterModule:
    def filters(self):
        return {"mongodb_backup_summed": mongodb_backup_summed}
