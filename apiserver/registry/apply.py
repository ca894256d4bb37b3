"""Apply: kubectl's three-way merge, done on the server.

The object remembers the manifest it was last applied from, in the annotation
``kubectl.kubernetes.io/last-applied-configuration``. A new apply compares three
things: that last-applied manifest (original), the new manifest (modified) and the
live object (current). Fields in original but not in modified were removed by the
user and are removed from the object; fields in modified are set; everything else
in current (defaults, fields other clients set, status) is kept.
"""

from __future__ import annotations

import json
from typing import Any

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def last_applied_json(manifest: dict[str, Any]) -> str:
    """The annotation value: the manifest as given, without status or the annotation itself."""
    clean = {k: v for k, v in manifest.items() if k != "status"}
    meta = dict(clean.get("metadata") or {})
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    clean["metadata"] = meta
    return json.dumps(clean, sort_keys=True, separators=(",", ":"))


# Maps Kubernetes marks patchStrategy "retainKeys" (a union: a type plus the member it
# selects). When the manifest gives one, its keys are the whole truth: switching a
# Deployment's strategy to Recreate drops the defaulted rollingUpdate.
RETAIN_KEYS = frozenset({("spec", "strategy")})


def three_way_merge(original: dict[str, Any], modified: dict[str, Any], current: dict[str, Any],
                    path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Merge maps recursively; lists and scalars in modified replace current's."""
    result = dict(current)
    for key in original:
        if key not in modified:
            result.pop(key, None)
    if path in RETAIN_KEYS:
        result = {k: v for k, v in result.items() if k in modified}
    for key, value in modified.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            before = original.get(key)
            result[key] = three_way_merge(before if isinstance(before, dict) else {}, value, result[key],
                                          path + (key,))
        else:
            result[key] = value
    return result
