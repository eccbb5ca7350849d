"""Write concern documents compared as the server stores and reports them.

``getDefaultRWConcern`` answers a stored ``{w: "majority"}`` as
``{w: "majority", wtimeout: 0}`` (WriteConcernOptions::toBSON in
src/mongo/db/write_concern_options.cpp always writes wtimeout), so a declared default
is compared field by field with MongoDB's defaults filled in, never literally.
"""

from __future__ import annotations

from typing import Any


def normalise_write_concern(concern: dict[str, Any] | None) -> dict[str, Any] | None:
    """w (numbers as int), j when given, wtimeout (0 when absent)."""
    if concern is None:
        return None
    normal: dict[str, Any] = {}
    w = concern.get("w", 1)
    normal["w"] = int(w) if isinstance(w, (int, float)) and not isinstance(w, bool) else w
    if concern.get("j") is not None:
        normal["j"] = bool(concern["j"])
    normal["wtimeout"] = int(concern.get("wtimeout") or 0)
    return normal


def same_write_concern(current: dict[str, Any] | None, wanted: dict[str, Any] | None) -> bool:
    return normalise_write_concern(current) == normalise_write_concern(wanted)
