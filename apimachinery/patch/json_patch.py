"""JSON patch (RFC 6902), ``application/json-patch+json``: a list of operations
(add, remove, replace, move, copy, test) on JSON pointers, applied in order, all or none.

The operations themselves are the maintained ``jsonpatch`` library's; this module checks
the document's shape and words the failures as Kubernetes (evanphx/json-patch) does:

* the body is not a list of operation objects, or an operation lacks ``op``/``path``/
  ``value``/``from``, or names an unknown op: 400, the document is malformed;
* an operation that does not apply (a failing ``test``, a path or ``from`` that is not
  there, an index past the end): 422, as Kubernetes answers any failed JSON patch;
* more than 10000 operations: 413 (Kubernetes' maxJSONPatchOperations)."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer

from apimachinery.patch.errors import BAD_REQUEST, INVALID, REQUEST_ENTITY_TOO_LARGE, PatchError

MAX_OPERATIONS = 10000
OPERATIONS = ("add", "remove", "replace", "move", "copy", "test")


def _check_operation(i: int, op: Any) -> None:
    if not isinstance(op, dict):
        raise PatchError(f"json patch operation {i}: expected an object, got {type(op).__name__}", BAD_REQUEST)
    name = op.get("op")
    if name not in OPERATIONS:
        raise PatchError(f"json patch operation {i}: Unexpected kind: {name}", BAD_REQUEST)
    if not isinstance(op.get("path"), str):
        raise PatchError(f"json patch operation {i} ({name}): missing path field", BAD_REQUEST)
    if name in ("add", "replace", "test") and "value" not in op:
        raise PatchError(f"json patch operation {i} ({name}): missing value field", BAD_REQUEST)
    if name in ("move", "copy") and not isinstance(op.get("from"), str):
        raise PatchError(f"json patch operation {i} ({name}): missing from field", BAD_REQUEST)


def _resolves(doc: Any, pointer: str) -> bool:
    try:
        jsonpointer.resolve_pointer(doc, pointer)
    except (jsonpointer.JsonPointerException, TypeError):
        return False
    return True


def _failure(doc: Any, op: dict[str, Any], err: Exception) -> PatchError:
    """Kubernetes' (evanphx/json-patch's) words for an operation that does not apply."""
    name, path = op["op"], op["path"]
    if isinstance(err, jsonpatch.JsonPatchTestFailed):
        return PatchError(f"testing value {path} failed: test failed", INVALID)
    if name in ("move", "copy") and not _resolves(doc, op["from"]):
        return PatchError(f"{name} operation does not apply: doc is missing from path: {op['from']}: missing value",
                          INVALID)
    if "outside of list" in str(err) or "index" in str(err):
        return PatchError(f"{name} operation does not apply: {path}: invalid index referenced", INVALID)
    return PatchError(f"{name} operation does not apply: doc is missing path: {path}: missing value", INVALID)


def apply_json_patch(document: Any, operations: Any) -> Any:
    """The document with the operations applied in order; the argument is not changed."""
    if not isinstance(operations, list):
        raise PatchError("json patch must be a list of operations, got a "
                         f"{'object' if isinstance(operations, dict) else type(operations).__name__}", BAD_REQUEST)
    if len(operations) > MAX_OPERATIONS:
        raise PatchError(f"The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, "
                         f"got {len(operations)}", REQUEST_ENTITY_TOO_LARGE)
    for i, op in enumerate(operations):
        _check_operation(i, op)
    result = copy.deepcopy(document)
    for op in operations:
        try:
            result = jsonpatch.JsonPatch([op]).apply(result, in_place=True)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, ValueError) as err:
            raise _failure(result, op, err) from None
    return result
