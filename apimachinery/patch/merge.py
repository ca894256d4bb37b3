"""JSON merge patch (RFC 7386), ``application/merge-patch+json``.

The patch looks like the object: an object in the patch merges into the object at the
same place, key by key; ``null`` deletes the key; anything else (a string, a number, a
list) replaces what was there. Lists are never merged, so a merge patch that touches
``containers`` gives the whole list. (Strategic merge patch, strategic.py, is the one that
knows which lists merge item by item.)"""

from __future__ import annotations

import copy
from typing import Any


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 MergePatch(Target, Patch); neither argument is changed."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
