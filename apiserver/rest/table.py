"""Server-side printing: objects as a meta.k8s.io/v1 ``Table``, as the apiserver answers kubectl.

kubectl's ``get`` does not format objects itself: it asks for a table,

    Accept: application/json;as=Table;v=v1;g=meta.k8s.io,
            application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json

and prints the columns the server sends, upper-casing their names, leaving out priority-1
columns unless ``-o wide``, and adding NAMESPACE (``-A``), LABELS (``--show-labels``) and
the kind prefix of the name itself, from each row's object. So the columns are the server's
business; they come from :mod:`apimachinery.tables`, the same definition pykubectl prints
with, and every row carries every column (the server always generates the wide table).

    {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
     "metadata": {"resourceVersion": "42"},
     "columnDefinitions": [{"name": "Name", "type": "string", "format": "name",
                            "description": "...", "priority": 0}, ...],
     "rows": [{"cells": ["web-1", "1/1", "Running", "0", "5m", ...],
               "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                          "metadata": {...}}}]}

``?includeObject=`` chooses each row's object: ``Metadata`` (the default, what kubectl's
plain ``get`` uses: enough for NAMESPACE and LABELS), ``Object`` (the whole object: kubectl
asks for it with ``--sort-by``, to evaluate the JSONPath) or ``None``.

A watch with a Table ``Accept`` (``kubectl get -w``) sends each event's object as a Table of
one row (:func:`object_table`); Kubernetes sends the column definitions with the first event
only and kubectl reuses them for the rows that follow, which ``with_columns`` allows.

Pure functions of objects and ``now``; the HTTP handlers (handlers.py, watch.py) call them.
"""

from __future__ import annotations

import datetime
from typing import Any

from google.protobuf.message import Message

from apimachinery.convert import to_dict
from apimachinery.kinds import KindInfo
from apimachinery.tables import table_spec
from apiserver import errors

META_GROUP = "meta.k8s.io"
TABLE_VERSIONS = ("v1", "v1beta1")  # kubectl asks for both; same shape
TABLE_API_VERSION = f"{META_GROUP}/v1"

# metav1.IncludeObjectPolicy
INCLUDE_NONE = "None"
INCLUDE_METADATA = "Metadata"
INCLUDE_OBJECT = "Object"
INCLUDE_POLICIES = (INCLUDE_NONE, INCLUDE_METADATA, INCLUDE_OBJECT)

# Media types a client may take a plain (non-Table) JSON answer in.
_PLAIN_JSON = ("application/json", "application/*", "*/*")


# ----------------------------------------------------------------- the request


def wants_table(accept: str) -> tuple[bool, str]:
    """Read an Accept header: ``(True, "meta.k8s.io/v1")`` when the client's preferred type
    that this server can give is a Table (and in which version), ``(False, "")`` otherwise.

    Alternatives are tried by their ``q`` (highest first), then in the order given, as
    Kubernetes' content negotiation does. A Table in a group or version not served
    (``as=Table;v=v2``) or another transformation (``as=PartialObjectMetadataList``) is
    skipped, so kubectl's trailing plain ``application/json`` is chosen instead.
    """
    clauses = []
    for position, clause in enumerate(accept.split(",")):
        media_type, params = _parse_media_type(clause)
        if not media_type:
            continue
        try:
            quality = float(params.pop("q", "1"))
        except ValueError:
            quality = 1.0
        clauses.append((-quality, position, media_type, params))
    for _, _, media_type, params in sorted(clauses):
        as_kind = params.get("as")
        if as_kind is None:
            if media_type in _PLAIN_JSON:
                return False, ""
            continue
        if (as_kind == "Table" and media_type in ("application/json", "application/*", "*/*")
                and params.get("g") == META_GROUP and params.get("v") in TABLE_VERSIONS):
            return True, f"{META_GROUP}/{params['v']}"
    return False, ""


def _parse_media_type(clause: str) -> tuple[str, dict[str, str]]:
    """``application/json;as=Table;v=v1`` → ("application/json", {"as": "Table", "v": "v1"})."""
    media_type, *raw_params = clause.split(";")
    params = {}
    for raw in raw_params:
        key, _, value = raw.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return media_type.strip().lower(), params


def include_object_option(value: str | None) -> str:
    """The ``includeObject`` query parameter, checked as ValidateTableOptions checks it
    (empty or absent means Metadata); an unknown policy is a 400 BadRequest."""
    if not value:
        return INCLUDE_METADATA
    if value not in INCLUDE_POLICIES:
        raise errors.BadRequest(f'Unable to convert to Table as requested: includeObject: Invalid value: "{value}": '
                                "must be 'Metadata', 'Object', 'None', or empty")
    return value


# ------------------------------------------------------------------ the answer


def column_definitions(info: KindInfo) -> list[dict[str, Any]]:
    return [column.definition() for column in table_spec(info.kind).columns]


def to_table(info: KindInfo, objects: list[Message], include_object: str, now: datetime.datetime,
             list_meta: dict[str, Any] | None = None, api_version: str = TABLE_API_VERSION,
             with_columns: bool = True) -> dict[str, Any]:
    """The Table of objects of one kind, every column's cell in every row.

    ``list_meta`` is the list's metadata (resourceVersion, continue, remainingItemCount) for
    a list; without it, a table of one object carries that object's resourceVersion, as
    Kubernetes' table of a single object does.
    """
    policy = include_object_option(include_object)
    spec = table_spec(info.kind)
    rows = [{"cells": spec.row(obj, now), **_row_object(info, obj, policy, api_version)} for obj in objects]
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": _table_meta(objects, list_meta),
        "columnDefinitions": column_definitions(info) if with_columns else [],
        "rows": rows,
    }


def object_table(info: KindInfo, obj: Message, include_object: str, now: datetime.datetime,
                 api_version: str = TABLE_API_VERSION, with_columns: bool = True) -> dict[str, Any]:
    """One object as a Table of one row: a GET's answer, or a watch event's object."""
    return to_table(info, [obj], include_object, now, api_version=api_version, with_columns=with_columns)


def _row_object(info: KindInfo, obj: Message, policy: str, api_version: str) -> dict[str, Any]:
    """The row's object: nothing, the whole object, or its metadata as a PartialObjectMetadata
    in the Table's own group version."""
    if policy == INCLUDE_NONE:
        return {}
    data = to_dict(obj)  # with its apiVersion and kind
    if policy == INCLUDE_OBJECT:
        return {"object": data}
    return {"object": {"kind": "PartialObjectMetadata", "apiVersion": api_version,
                       "metadata": data.get("metadata", {})}}


def _table_meta(objects: list[Message], list_meta: dict[str, Any] | None) -> dict[str, Any]:
    if list_meta is not None:
        return {key: value for key, value in list_meta.items() if value not in ("", None)}
    if len(objects) == 1 and objects[0].metadata.resource_version:
        return {"resourceVersion": objects[0].metadata.resource_version}
    return {}
