"""Patches of API objects as Kubernetes applies them: strategic merge patch, JSON merge
patch (RFC 7386), JSON patch (RFC 6902); and the per-field list semantics they, server-side
apply's field sets and the OpenAPI documents share (merge_keys.py).

``apply_patch`` is the PATCH verb's arithmetic, pure and without I/O: the object as JSON (as
apimachinery.convert.to_dict gives it), the request body and its Content-Type in, the
patched object as JSON out (for the caller to convert, validate and store):

* ``application/json-patch+json``: json_patch.py, operations on JSON pointers;
* ``application/merge-patch+json``: merge.py, objects merge, null deletes, the rest replaces;
* ``application/strategic-merge-patch+json``: strategic.py, merge.py made list-aware by
  the kind's schema (what ``kubectl patch`` sends by default, and ``kubectl apply``: the
  three-way patch of three_way.py).

Failures raise errors.PatchError with the HTTP code to answer: 400 for a body that is no
JSON or not the shape its type asks for, 422 for a patch that does not apply or changes the
object's apiVersion or kind (Kubernetes refuses to decode such a result into the kind at
the URL), 413 for too many JSON patch operations, 415 for any other Content-Type (Kubernetes'
PATCH accepts only these three, and ``application/apply-patch+yaml`` for server-side apply,
which is not a patch here). A result without apiVersion/kind (a JSON patch may remove them)
gets the kind's back. Name and namespace are the caller's to compare with the URL."""

from __future__ import annotations

import json
from typing import Any

from apimachinery.kinds import KindInfo
from apimachinery.patch.errors import BAD_REQUEST, INVALID, UNSUPPORTED_MEDIA_TYPE, PatchError
from apimachinery.patch.json_patch import apply_json_patch
from apimachinery.patch.merge import merge_patch
from apimachinery.patch.strategic import apply_strategic, kind_of
from apimachinery.patch.three_way import three_way_patch

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)


def media_type(content_type: str) -> str:
    """The media type of a Content-Type header, without parameters (``; charset=utf-8``)."""
    return content_type.split(";", 1)[0].strip().lower()


def _parse(body: bytes | str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise PatchError(f"error decoding patch: {err}", BAD_REQUEST) from None


def _type_meta(result: Any, info: KindInfo) -> dict[str, Any]:
    """The patched object keeps its apiVersion and kind (Kubernetes decodes it into the kind
    at the URL); absent ones are the kind's."""
    if not isinstance(result, dict):
        raise PatchError(f"patch: Invalid value: the patched object must be a JSON object, "
                         f"got {type(result).__name__}", INVALID)
    for field, want in (("apiVersion", info.api_version), ("kind", info.kind)):
        got = result.get(field)
        if got is None:
            result[field] = want
        elif got != want:
            raise PatchError(f"patch: Invalid value: {json.dumps(got)}: the patch changes {field} "
                             f"from {json.dumps(want)}; a patch cannot change an object's apiVersion or kind",
                             INVALID)
    return result


def apply_patch(content_type: str, original: dict[str, Any], patch: bytes | str, info: KindInfo) -> dict[str, Any]:
    """The object patched by a PATCH request body of the given Content-Type; original is not changed."""
    kind = media_type(content_type)
    if kind not in PATCH_TYPES:
        raise PatchError(f'the body of the request was in an unknown format - accepted media types include: '
                         f'{", ".join(PATCH_TYPES)}', UNSUPPORTED_MEDIA_TYPE)
    document = _parse(patch)
    if kind == JSON_PATCH:
        result = apply_json_patch(original, document)
    elif kind == MERGE_PATCH:
        if document is None:
            raise PatchError("Invalid JSON Patch", BAD_REQUEST)
        result = merge_patch(original, document)
    else:
        if not isinstance(document, dict):
            raise PatchError("json: cannot unmarshal " + _json_kind(document)
                             + " into Go value of type map[string]interface {}", BAD_REQUEST)
        result = apply_strategic(original, document, info.message.DESCRIPTOR)
    return _type_meta(result, info)


# Go's kinds (strategic.kind_of) by the names encoding/json's UnmarshalTypeError gives JSON values.
_JSON_NAMES = {"slice": "array", "map": "object", "nil": "null"}


def _json_kind(value: Any) -> str:
    kind = kind_of(value)
    return _JSON_NAMES.get(kind, kind)


__all__ = [
    "JSON_PATCH", "MERGE_PATCH", "PATCH_TYPES", "STRATEGIC_MERGE_PATCH", "PatchError", "apply_patch",
    "apply_strategic", "media_type", "merge_patch", "apply_json_patch", "three_way_patch",
]
