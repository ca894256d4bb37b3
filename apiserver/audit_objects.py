"""What an audit event says about the objects of a call: its objectRef (completed from the
request's object, as Kubernetes' audit.LogRequestObject does for creates), and at the
Request and RequestResponse levels the request and response objects as Kubernetes-style
JSON (apimachinery.convert.to_dict: apiVersion, kind, camelCase fields).

``object_parts`` walks a request the way ``attributes_for`` does (one part per object of
an Apply, per op of a Batch), so the filter chain can pair them; the chain pairs them
only when the counts agree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from apimachinery.convert import to_dict
from apimachinery.kinds import KINDS, UnknownKindError, unwrap
from apiserver import errors
from apiserver.auth.attributes import Attributes

# objectRef.apiVersion is the version alone ("v1"), beside apiGroup.
_VERSION_OF = {info.plural: info.api_version.rpartition("/")[2] for info in KINDS}
REQUEST_RESPONSE = 3
_CODES = {code.value[0]: code for code in grpc.StatusCode}


def object_ref(attrs: Attributes, name: str = "", uid: str = "", resource_version: str = "") -> dict[str, str]:
    """audit.ObjectReference, in Kubernetes' field order; name, uid and resourceVersion
    from the request's object where the attributes have none (a create's name)."""
    ref = {"resource": attrs.resource}
    for key, value in (("namespace", attrs.namespace), ("name", attrs.name or name), ("uid", uid),
                       ("apiGroup", attrs.api_group), ("apiVersion", _VERSION_OF.get(attrs.resource, "")),
                       ("resourceVersion", resource_version), ("subresource", attrs.subresource)):
        if value:
            ref[key] = value
    return ref


@dataclass(frozen=True)
class ObjectParts:
    """One Kubernetes request's payload: an API object, or the request message itself
    (a delete's options, a binding, an exec's start), or nothing (reads)."""

    obj: Message | None = None
    request: Message | None = None

    def object_ref(self, attrs: Attributes) -> dict[str, str]:
        if self.obj is None:
            return object_ref(attrs)
        meta = self.obj.metadata  # type: ignore[attr-defined]
        return object_ref(attrs, meta.name, meta.uid, meta.resource_version)

    def request_object(self) -> Any:
        if self.obj is not None:
            return to_dict(self.obj)
        if self.request is not None:
            return json_format.MessageToDict(self.request)
        return None


def _object(wrapped: Any) -> ObjectParts:
    try:
        return ObjectParts(obj=unwrap(wrapped))
    except UnknownKindError:
        return ObjectParts()


def _batch_op(op: Any) -> list[ObjectParts]:
    which = op.WhichOneof("op")
    if which is None:
        return []
    return _PARTS[_BATCH_METHODS[which]](getattr(op, which))


_READ = lambda r: [ObjectParts()]  # noqa: E731
_PARTS: dict[str, Any] = {
    "Create": lambda r: [_object(r.object)],
    "Update": lambda r: [_object(r.object)],
    "UpdateStatus": lambda r: [_object(r.object)],
    "Apply": lambda r: [_object(o) for o in r.objects],
    "Delete": lambda r: [ObjectParts(request=r)],
    "Bind": lambda r: [ObjectParts(request=r)],
    "Batch": lambda r: [p for op in r.ops for p in _batch_op(op)],
    "Get": _READ, "List": _READ, "Watch": _READ, "WatchBatches": _READ, "Logs": _READ,
    "Version": lambda r: [], "Discovery": lambda r: [],
    "Exec": lambda r: [ObjectParts(request=r.start if r is not None else None)],
    "PortForward": lambda r: [ObjectParts(request=r.start if r is not None else None)],
}
_BATCH_METHODS = {"create": "Create", "update": "Update", "update_status": "UpdateStatus", "delete": "Delete",
                  "bind": "Bind"}


def object_parts(method: str, request: Any) -> list[ObjectParts]:
    parts = _PARTS.get(method)
    return parts(request) if parts is not None else []


def _json(wrapped: Any) -> Any:
    try:
        return to_dict(unwrap(wrapped))
    except UnknownKindError:
        return None


def response_parts(method: str, request: Any, response: Any,
                   level: int) -> list[tuple[int, str, str, Any]] | None:
    """Per Kubernetes request of a successful call: (HTTP code, reason, message, response
    object or None); None when the call's own answer stands for all (and no response
    object is wanted)."""
    full = level >= REQUEST_RESPONSE
    if method == "Batch":
        answers = []
        for op, result in zip(request.ops, response.results):
            if op.WhichOneof("op") is None:
                continue  # an empty op asks nothing (no attributes): nothing to pair it with
            http, reason = errors.http_status(_CODES.get(result.code, grpc.StatusCode.UNKNOWN))
            answers.append((http, reason, result.message, _json(result.object) if full and not result.code else None))
        return answers
    if method == "Apply":
        return [(201 if r.action == "created" else 200, "", "", _json(r.object) if full else None)
                for r in response.results]
    if not full:
        return None
    if method in ("Create", "Get", "Update", "UpdateStatus", "Delete", "Bind"):
        return [(200, "", "", _json(response))]
    if method == "List":
        return [(200, "", "", {"apiVersion": "v1", "kind": "List",
                               "metadata": {"resourceVersion": response.resource_version},
                               "items": [_json(o) for o in response.items]})]
    return [(200, "", "", json_format.MessageToDict(response))]
