"""The API's OpenAPI v3 documents (``/openapi/v3``), generated from the protos.

Kubernetes publishes one OpenAPI 3.0 document per group-version (``/openapi/v3/api/v1``,
``/openapi/v3/apis/apps/v1``, ...) and an index of them at ``/openapi/v3``. kubectl reads
them for two things pykube wants:

* ``kubectl explain deployment.spec`` finds the schema whose ``x-kubernetes-group-version-kind``
  is the resource's kind and walks it, printing each field's type and ``description``;
* ``kubectl apply``/``create`` ask, per kind, whether the server validates fields itself:
  they look for the kind's PATCH operation (by its ``x-kubernetes-group-version-kind``) and
  the ``fieldValidation`` query parameter on it. pykube's apiserver refuses unknown and
  wrongly typed fields on every write (apimachinery/convert.py), so it says yes, as a
  Kubernetes 1.27+ server does, and kubectl leaves validation to the server.

Everything here is derived, nothing restated: the kinds and their group-versions come from
apimachinery/kinds.py, each schema from the proto message's descriptor (fields by their
JSON names), the merge semantics (``x-kubernetes-patch-merge-key``, ``-patch-strategy``,
``-list-type``, ``-list-map-keys``) from apimachinery/patch/merge_keys.py, which fields hold
resource quantities from apimachinery/convert.py, and the descriptions from the comments in
the ``.proto`` sources (protos/comments.py). Schemas carry Kubernetes' names
(``io.k8s.api.core.v1.Pod``, ``io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta``), and the
few types Kubernetes defines outside any proto of ours (ListMeta, Status, DeleteOptions,
Time, Quantity, IntOrString, Patch) are written in apiserver/rest/openapi_meta.py.

The documents are static: each is built once per process, on first use, and hashed
(SHA-512 of its canonical JSON) so that the index's URLs change exactly when a document does,
as kubectl's cache expects."""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from apimachinery.convert import INT_OR_STRING, QUANTITY_MAPS
from apimachinery.kinds import KINDS, KindInfo
from apimachinery.patch import merge_keys
from apiserver.rest import openapi_meta as meta
from apiserver.rest.openapi_meta import ref
from protos.comments import comments

# Each .proto file's messages are named in the Kubernetes package of the same types.
_PACKAGE_OF_FILE = {
    "protos/core.proto": "io.k8s.api.core.v1",
    "protos/apps.proto": "io.k8s.api.apps.v1",
    "protos/coordination.proto": "io.k8s.api.coordination.v1",
    "protos/discovery.proto": "io.k8s.api.discovery.v1",
    "protos/rbac.proto": "io.k8s.api.rbac.v1",
    "protos/batch.proto": "io.k8s.api.batch.v1",
    "protos/storage.proto": "io.k8s.api.storage.v1",
    "protos/meta.proto": meta.META,
}
# Messages whose Kubernetes type lives elsewhere than their file's neighbours.
_NAME_OF_MESSAGE = {
    INT_OR_STRING: meta.INT_OR_STRING,
    "google.protobuf.Timestamp": meta.TIME,
    "pykube.v1.ObjectReference": "io.k8s.api.core.v1.ObjectReference",
}

_SCALARS: dict[int, dict[str, str]] = {
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_INT64: {"type": "integer", "format": "int64"},
    FieldDescriptor.TYPE_SINT64: {"type": "integer", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "integer", "format": "int64"},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
}

# The fields every kind has, described as Kubernetes describes them (the protos leave them bare).
_KIND_FIELDS = {
    "apiVersion": "APIVersion defines the versioned schema of this representation of an object. "
                  "Servers should convert recognized schemas to the latest internal value, and may "
                  "reject unrecognized values.",
    "kind": "Kind is a string value representing the REST resource this object represents. Servers "
            "may infer this from the endpoint the client submits requests to. Cannot be updated. "
            "In CamelCase.",
    "metadata": "Standard object's metadata.",
    "spec": "The desired state of the object, written by its users.",
    "status": "The most recently observed state of the object, written by the system. Read-only.",
}


# ------------------------------------------------------------------------------ names


def group_version_path(api_version: str) -> str:
    """ "v1" → "api/v1"; "apps/v1" → "apis/apps/v1" (the document's path under /openapi/v3)."""
    return f"apis/{api_version}" if "/" in api_version else f"api/{api_version}"


def gvk(info: KindInfo, kind: str | None = None) -> dict[str, str]:
    group, _, version = info.api_version.rpartition("/")
    return {"group": group, "kind": kind or info.kind, "version": version}


def schema_name(message: Descriptor) -> str:
    """The Kubernetes name of a proto message's type ("pykube.v1.Pod" → "io.k8s.api.core.v1.Pod")."""
    renamed = _NAME_OF_MESSAGE.get(message.full_name)
    if renamed is not None:
        return renamed
    return f"{_PACKAGE_OF_FILE[message.file.name]}.{message.name}"


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _is_kind(message: Descriptor) -> bool:
    return any(info.message.DESCRIPTOR is message for info in KINDS)


# ----------------------------------------------------------------------------- schemas


def _value_schema(field: FieldDescriptor) -> dict[str, Any]:
    """The schema of one value of a field (one item, for a repeated field)."""
    if field.message_type is None:
        return dict(_SCALARS[field.type])
    if field.message_type.full_name in meta.INLINE_MESSAGES:
        return dict(meta.INLINE_MESSAGES[field.message_type.full_name])
    return ref(schema_name(field.message_type))


def _describe(schema: dict[str, Any], description: str | None) -> dict[str, Any]:
    """Attach a description: beside a $ref it needs allOf (OpenAPI 3.0 ignores $ref's siblings)."""
    if description is None:
        return schema
    if "$ref" in schema:
        schema = {"allOf": [schema]}
    return {**schema, "description": description}


def field_schema(message: Descriptor, field: FieldDescriptor) -> dict[str, Any]:
    """A property's schema: its type, its description, and how a patch or an apply merges it."""
    description = comments().get(field.full_name)
    if description is None and _is_kind(message):
        description = _KIND_FIELDS.get(field.json_name)
    if _is_map(field):
        value_field = field.message_type.fields_by_name["value"]
        values = ref(meta.QUANTITY) if field.name in QUANTITY_MAPS else _value_schema(value_field)
        return _describe({"type": "object", "additionalProperties": values}, description)
    if not field.is_repeated:
        schema = _describe(_value_schema(field), description)
        if merge_keys.retains_keys(message, field):
            schema = {"allOf": [schema]} if "$ref" in schema else schema
            schema["x-kubernetes-patch-strategy"] = "retainKeys"
        return schema
    schema = _describe({"type": "array", "items": _value_schema(field)}, description)
    map_list = merge_keys.map_list(message, field)
    if map_list is not None:
        schema.update({
            "x-kubernetes-list-map-keys": list(map_list.keys),
            "x-kubernetes-list-type": "map",
            "x-kubernetes-patch-merge-key": map_list.merge_key,
            "x-kubernetes-patch-strategy": "merge",
        })
    elif merge_keys.is_set_list(message, field):
        schema.update({"x-kubernetes-list-type": "set", "x-kubernetes-patch-strategy": "merge"})
    else:
        schema["x-kubernetes-list-type"] = "atomic"
    return schema


def message_schema(message: Descriptor) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {f.json_name: field_schema(message, f) for f in message.fields},
    }
    description = comments().get(message.full_name)
    if description:
        schema["description"] = description
    return schema


def _reachable(roots: list[Descriptor]) -> list[Descriptor]:
    """The messages the roots' fields lead to (roots included), each once, maps' entries skipped."""
    seen: dict[str, Descriptor] = {}
    stack = list(roots)
    while stack:
        message = stack.pop()
        if message.full_name in seen:
            continue
        seen[message.full_name] = message
        for field in message.fields:
            target = field.message_type
            if target is None:
                continue
            if target.GetOptions().map_entry:
                target = target.fields_by_name["value"].message_type
            if target is not None and target.full_name not in meta.INLINE_MESSAGES:
                stack.append(target)
    return list(seen.values())


def _kind_schema(info: KindInfo) -> dict[str, Any]:
    schema = message_schema(info.message.DESCRIPTOR)
    schema.setdefault("description", f"{info.kind} is one of the kinds the API serves as {info.api_version}.")
    schema["x-kubernetes-group-version-kind"] = [gvk(info)]
    return schema


def _list_schema(info: KindInfo) -> dict[str, Any]:
    return {
        "description": f"{info.kind}List is a list of {info.kind} objects.",
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string", "description": _KIND_FIELDS["apiVersion"]},
            "kind": {"type": "string", "description": _KIND_FIELDS["kind"]},
            "metadata": {"allOf": [ref(meta.LIST_META)], "description": "Standard list metadata."},
            "items": {"type": "array", "items": ref(schema_name(info.message.DESCRIPTOR)),
                      "description": f"The {info.plural}."},
        },
        "x-kubernetes-group-version-kind": [gvk(info, info.kind + "List")],
    }


def schemas(kinds: list[KindInfo]) -> dict[str, dict[str, Any]]:
    """components.schemas for a group-version: its kinds and lists, all they refer to, the meta types."""
    found: dict[str, dict[str, Any]] = dict(meta.SCHEMAS)
    for message in _reachable([info.message.DESCRIPTOR for info in kinds]):
        name = schema_name(message)
        if name in found:
            continue  # Timestamp and IntOrString: written by hand in openapi_meta
        found[name] = message_schema(message)
    for info in kinds:
        name = schema_name(info.message.DESCRIPTOR)
        found[name] = _kind_schema(info)
        found[name + "List"] = _list_schema(info)
    return dict(sorted(found.items()))


# ------------------------------------------------------------------------------- paths


def _operation_id(verb: str, info: KindInfo, scope: str) -> str:
    """Kubernetes' operationId: listCoreV1NamespacedPod, patchAppsV1NamespacedDeployment, ..."""
    group, _, version = info.api_version.rpartition("/")
    group_words = group.removesuffix(".k8s.io").split(".") if group else ["core"]
    return verb + "".join(w.capitalize() for w in group_words) + version.capitalize() + scope + info.kind


def _operation(verb: str, action: str, info: KindInfo, scope: str, *, params: tuple[str, ...],
               response: str, request: dict[str, Any] | None = None, created: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {
        "description": f"{meta.VERB_DESCRIPTIONS[verb]} {info.kind}",
        "operationId": _operation_id(verb, info, scope),
        "parameters": [meta.query_parameter(p) for p in params],
        "responses": {code: meta.response(response) for code in (("200", "201") if created else ("200",))},
        "tags": [_operation_id("", info, "").removesuffix(info.kind)],
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(info),
    }
    if request is not None:
        op["requestBody"] = {"content": request, "required": verb != "delete"}
    return op


def _paths_of(info: KindInfo) -> dict[str, dict[str, Any]]:
    """The collection and the item paths of one kind, with their operations."""
    prefix = "/" + group_version_path(info.api_version)
    kind = schema_name(info.message.DESCRIPTOR)
    body = {"application/json": {"schema": ref(kind)}, "application/yaml": {"schema": ref(kind)}}
    patch_body = {content_type: {"schema": ref(meta.PATCH)} for content_type in meta.PATCH_CONTENT_TYPES}
    delete_body = {"application/json": {"schema": ref(meta.DELETE_OPTIONS)}}
    scope = "Namespaced" if info.namespaced else ""
    collection = f"{prefix}/namespaces/{{namespace}}/{info.plural}" if info.namespaced else f"{prefix}/{info.plural}"
    scope_params = [meta.path_parameter("namespace")] if info.namespaced else []
    writes = ("dryRun", "fieldManager", "fieldValidation")
    paths = {
        collection: {
            "get": _operation("list", "list", info, scope, params=meta.LIST_PARAMS, response=kind + "List"),
            "post": _operation("create", "post", info, scope, params=writes, response=kind, request=body,
                               created=True),
            "parameters": scope_params + [meta.query_parameter("pretty")],
        },
        f"{collection}/{{name}}": {
            "get": _operation("read", "get", info, scope, params=(), response=kind),
            "put": _operation("replace", "put", info, scope, params=writes, response=kind, request=body,
                              created=True),
            "patch": _operation("patch", "patch", info, scope, params=(*writes, "force"), response=kind,
                                request=patch_body, created=True),
            "delete": _operation("delete", "delete", info, scope, params=meta.DELETE_PARAMS,
                                 response=meta.STATUS, request=delete_body),
            "parameters": [meta.path_parameter("name", info.kind), *scope_params, meta.query_parameter("pretty")],
        },
    }
    if info.namespaced:
        paths[f"{prefix}/{info.plural}"] = {
            "get": _operation("list", "list", info, "", params=meta.LIST_PARAMS, response=kind + "List")
                   | {"operationId": _operation_id("list", info, "") + "ForAllNamespaces"},
            "parameters": [meta.query_parameter("pretty")],
        }
    return paths


def _document(api_version: str) -> dict[str, Any]:
    kinds = [info for info in KINDS if info.api_version == api_version]
    paths: dict[str, Any] = {}
    for info in kinds:
        paths.update(_paths_of(info))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "unversioned"},
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": schemas(kinds), "securitySchemes": meta.SECURITY_SCHEMES},
        "security": [{"BearerToken": []}],
    }


def canonical_json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@functools.cache
def _documents() -> dict[str, tuple[dict[str, Any], str]]:
    """Every group-version's document and its hash, built once per process."""
    built = {}
    for api_version in dict.fromkeys(info.api_version for info in KINDS):
        doc = _document(api_version)
        built[group_version_path(api_version)] = (doc, hashlib.sha512(canonical_json(doc)).hexdigest())
    return built


def index() -> dict[str, Any]:
    """``/openapi/v3``: each group-version's document, by a URL that names its content's hash."""
    return {"paths": {path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
                      for path, (_, digest) in _documents().items()}}


def document(path: str) -> dict[str, Any] | None:
    """``/openapi/v3/<path>`` ("api/v1", "apis/apps/v1", ...), or None when no such group-version."""
    found = _documents().get(path.strip("/"))
    return None if found is None else found[0]


def document_hash(path: str) -> str | None:
    """The hash the index gives for a document (the server answers ``?hash=`` with it as ETag)."""
    found = _documents().get(path.strip("/"))
    return None if found is None else found[1]
