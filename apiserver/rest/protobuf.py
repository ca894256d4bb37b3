"""Request bodies in Kubernetes' protobuf encoding, for the few kinds clients send that way.

kubectl's typed clients (``kubectl drain``'s Eviction, ``kubectl auth can-i``'s
SelfSubjectAccessReview, a DeleteOptions body) send ``Content-Type:
application/vnd.kubernetes.protobuf``: the magic ``k8s\\x00``, then a ``runtime.Unknown``
(typeMeta {apiVersion, kind}, raw = the object in k8s.io/api's generated.proto encoding). pykube's
objects are not those messages, so this module reads only what is needed, with the field numbers
of k8s.io/api (policy/v1 Eviction, meta/v1 DeleteOptions, authorization/v1
SelfSubjectAccessReview), into the JSON shape every other body has. Any other kind is 415:
clients that sent it can send JSON (the answers are always JSON, which ``Accept:
application/vnd.kubernetes.protobuf, */*`` allows).
"""

from __future__ import annotations

from typing import Any

from apiserver import errors

MAGIC = b"k8s\x00"

# A schema: field number → (JSON name, type); type is "string", "int", "bool", "strings"
# (repeated string) or a nested schema.
Schema = dict[int, tuple[str, Any]]

OBJECT_META: Schema = {1: ("name", "string"), 2: ("generateName", "string"), 3: ("namespace", "string"),
                       5: ("uid", "string"), 6: ("resourceVersion", "string")}
PRECONDITIONS: Schema = {1: ("uid", "string"), 2: ("resourceVersion", "string")}
DELETE_OPTIONS: Schema = {1: ("gracePeriodSeconds", "int"), 2: ("preconditions", PRECONDITIONS),
                          3: ("orphanDependents", "bool"), 4: ("propagationPolicy", "string"),
                          5: ("dryRun", "strings")}
EVICTION: Schema = {1: ("metadata", OBJECT_META), 2: ("deleteOptions", DELETE_OPTIONS)}
RESOURCE_ATTRIBUTES: Schema = {1: ("namespace", "string"), 2: ("verb", "string"), 3: ("group", "string"),
                               4: ("version", "string"), 5: ("resource", "string"), 6: ("subresource", "string"),
                               7: ("name", "string")}
NON_RESOURCE_ATTRIBUTES: Schema = {1: ("path", "string"), 2: ("verb", "string")}
SELF_SUBJECT_ACCESS_REVIEW: Schema = {
    1: ("metadata", OBJECT_META),
    2: ("spec", {1: ("resourceAttributes", RESOURCE_ATTRIBUTES), 2: ("nonResourceAttributes", NON_RESOURCE_ATTRIBUTES)}),
}
SCHEMAS: dict[str, Schema] = {"Eviction": EVICTION, "DeleteOptions": DELETE_OPTIONS,
                              "SelfSubjectAccessReview": SELF_SUBJECT_ACCESS_REVIEW}
_UNKNOWN: Schema = {1: ("typeMeta", {1: ("apiVersion", "string"), 2: ("kind", "string")}), 2: ("raw", "bytes")}


class _Malformed(ValueError):
    pass


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise _Malformed("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) of every field: varints as int, length-delimited as bytes; others skipped."""
    out: list[tuple[int, int | bytes]] = []
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            out.append((number, value))
        elif wire == 2:
            length, at = _varint(data, at)
            if at + length > len(data):
                raise _Malformed("truncated field")
            out.append((number, data[at:at + length]))
            at += length
        elif wire == 1:
            at += 8
        elif wire == 5:
            at += 4
        else:
            raise _Malformed(f"unsupported wire type {wire}")
    return out


def _decode(data: bytes, schema: Schema) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for number, value in _fields(data):
        if number not in schema:
            continue
        name, kind = schema[number]
        if kind == "int" and isinstance(value, int):
            out[name] = value - (1 << 64) if value >= 1 << 63 else value
        elif kind == "bool" and isinstance(value, int):
            out[name] = bool(value)
        elif kind == "string" and isinstance(value, bytes):
            out[name] = value.decode("utf-8", "replace")
        elif kind == "strings" and isinstance(value, bytes):
            out.setdefault(name, []).append(value.decode("utf-8", "replace"))
        elif kind == "bytes" and isinstance(value, bytes):
            out[name] = value
        elif isinstance(kind, dict) and isinstance(value, bytes):
            out[name] = _decode(value, kind)
        else:
            raise _Malformed(f"field {number} ({name}) has the wrong wire type")
    return out


def decode(body: bytes) -> tuple[str, dict[str, Any]]:
    """(kind, the object as a JSON-shaped dict with apiVersion and kind) of a protobuf body;
    BadRequest when it is not one, KindNotReadable for a kind this module does not read."""
    if not body.startswith(MAGIC):
        raise errors.BadRequest("the protobuf body does not start with the Kubernetes magic number")
    try:
        unknown = _decode(body[len(MAGIC):], _UNKNOWN)
        type_meta = unknown.get("typeMeta", {})
        kind = type_meta.get("kind", "")
        schema = SCHEMAS.get(kind)
        if schema is None:
            raise KindNotReadable(kind)
        obj = _decode(unknown.get("raw", b""), schema)
    except _Malformed as err:
        raise errors.BadRequest(f"the protobuf body could not be decoded: {err}") from None
    return kind, {"apiVersion": type_meta.get("apiVersion", ""), "kind": kind, **obj}


class KindNotReadable(Exception):
    """A protobuf body of a kind this module has no field numbers for."""
