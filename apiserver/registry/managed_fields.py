"""Which manager owns which fields (metadata.managedFields), as Kubernetes' field manager
(structured-merge-diff) tracks them for server-side apply.

``MANAGER`` is the field manager of the request being served: the HTTP face sets it from
the ``fieldManager`` query parameter (else the client's user agent, as Kubernetes does);
"" when the request named none.

A *field set* is the set of paths a manager owns. A path is a tuple of path elements,
written as in the ``FieldsV1`` form Kubernetes stores:

* ``f:replicas`` a field of an object, or a key of a map (``f:app`` under ``f:labels``);
* ``k:{"name":"web"}`` an item of an associative list, by its key fields
  (apimachinery/patch/merge_keys.py ``MAP_LISTS``);
* ``v:"example.com/fin"`` an item of a set list (``SET_LISTS``).

Atomic lists, atomic structs (a label selector) and scalars are leaves. As in
structured-merge-diff, a set holds only its *members*: ``{("f:spec", "f:replicas")}``
owns ``spec.replicas`` and nothing about ``spec`` itself. The FieldsV1 tree marks a member
that also has children with ``".": {}`` (a list item, a map that was added whole).

Two ways a set is computed, as Kubernetes computes them:

* ``fields_of``: every field an object (an applied configuration) holds: the Apply set;
* ``compare_dicts`` (and field_diff.compare, the same walked on protobuf messages): what
  changed between two objects (added, modified, removed): an Update takes ownership of what
  it added or modified, and everyone loses what it removed.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, NamedTuple

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.struct_pb2 import Struct

from apimachinery.patch.merge_keys import ATOMIC_STRUCTS, map_list, is_set_list
from protos import meta_pb2

MANAGER: ContextVar[str] = ContextVar("field_manager", default="")

APPLY, UPDATE = "Apply", "Update"
FIELDS_V1 = "FieldsV1"

Path = tuple[str, ...]
FieldSet = frozenset[Path]
EMPTY: FieldSet = frozenset()

# Fields no manager owns (Kubernetes' stripMetaManager): identity and server bookkeeping.
STRIPPED_TOP = frozenset({"apiVersion", "kind"})
STRIPPED_META = frozenset({"name", "namespace", "creationTimestamp", "selfLink", "uid", "generation",
                           "managedFields", "resourceVersion"})
# The default of a listMapKey a manifest may leave out (Kubernetes' schema default for
# ports' protocol), so {"containerPort": 80} and {"containerPort": 80, "protocol": "TCP"} are one item.
KEY_DEFAULTS: dict[str, Any] = {"protocol": "TCP"}

_LEAF_MESSAGES = frozenset({"pykube.v1.IntOrString"})


# ------------------------------------------------------------------- schema


class Shape(NamedTuple):
    """How a field's value is walked: kind is leaf, struct, map, maplist or set."""

    kind: str
    message: Descriptor | None = None  # struct: its type; map: the value type; maplist: the item type
    keys: tuple[str, ...] = ()  # maplist: the key fields


LEAF = Shape("leaf")


@lru_cache(maxsize=None)
def fields_by_json_name(message: Descriptor) -> dict[str, FieldDescriptor]:
    return {f.json_name: f for f in message.fields}


@lru_cache(maxsize=None)
def shape_of(parent: Descriptor, field: FieldDescriptor) -> Shape:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        value = message.fields_by_name["value"].message_type
        return Shape("map", value if value is not None and _walked(value) else None)
    if field.is_repeated:
        if message is not None and (ml := map_list(parent, field)) is not None:
            return Shape("maplist", message, ml.keys)
        if message is None and is_set_list(parent, field):
            return Shape("set")
        return LEAF  # an atomic list
    if message is not None and _walked(message):
        return Shape("struct", message)
    return LEAF


def _walked(message: Descriptor) -> bool:
    """A message walked field by field (not IntOrString, a Timestamp, nor an atomic struct)."""
    return not (message.full_name in _LEAF_MESSAGES or message.full_name.startswith("google.protobuf.")
                or message.full_name in ATOMIC_STRUCTS)


# ------------------------------------------------------------- path elements


def compact_json(value: Any) -> str:
    """JSON as Kubernetes writes it in a path element: compact, keys sorted. Strings, numbers
    and flat objects of them (every key and set value) are written directly: this runs for
    each list item of each tracked write, and json.dumps' set-up costs more than the work."""
    if isinstance(value, str):
        return _encode_string(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dict) and all(isinstance(v, str) or type(v) is int for v in value.values()):
        return "{" + ",".join(_encode_string(k) + ":" + (_encode_string(v) if isinstance(v, str) else str(v))
                              for k, v in sorted(value.items())) + "}"
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


_encode_string = json.encoder.encode_basestring  # type: ignore[attr-defined]


def key_element(item: Any, keys: tuple[str, ...]) -> str:
    """``k:{"name":"web"}``: an associative list's item named by its key fields."""
    item = item if isinstance(item, dict) else {}
    return "k:" + compact_json({k: item.get(k, KEY_DEFAULTS.get(k)) for k in keys
                         if k in item or k in KEY_DEFAULTS})


def value_element(value: Any) -> str:
    return "v:" + compact_json(value)


def element_string(element: str) -> str:
    """One path element as Kubernetes prints it: ``.image``, ``[name="web"]``, ``[="x"]``."""
    tag, body = element[:2], element[2:]
    if tag == "f:":
        return "." + body
    if tag == "k:":
        return "[" + ",".join(f"{k}={compact_json(v)}" for k, v in json.loads(body).items()) + "]"
    if tag == "v:":
        return "[=" + body + "]"
    return "[" + body + "]"  # i:<index>


def path_string(path: Path) -> str:
    """``.spec.template.spec.containers[name="web"].image``."""
    return "".join(element_string(e) for e in path)


def _rank(element: str) -> int:
    return {"f:": 0, "k:": 1, "v:": 2}.get(element[:2], 3)


def path_order(path: Path) -> list[tuple[int, int, str]]:
    """Kubernetes' set order: at each level the members before the children, by element."""
    last = len(path) - 1
    return [(0 if i == last else 1, _rank(e), e) for i, e in enumerate(path)]


def sorted_paths(paths: Iterable[Path]) -> list[Path]:
    return sorted(paths, key=path_order)


# ------------------------------------------------------------ field sets of objects


def fields_of(data: dict[str, Any], message: Descriptor, subresource: str = "") -> FieldSet:
    """The fields an object (an applied configuration) holds, without those no manager owns:
    structured-merge-diff's ToFieldSet. ``subresource`` "status" takes only the status, ""
    everything but it (an apply to the main resource never owns status)."""
    out: set[Path] = set()
    _struct_fields(owned_part(data, subresource), message, (), out, added=False)
    return frozenset(out)


def owned_part(data: dict[str, Any], subresource: str = "") -> dict[str, Any]:
    """The part of an object dict that managers own: the status alone for "status", else all
    but the status; never apiVersion, kind, or metadata's identity and bookkeeping."""
    if subresource == "status":
        return {"status": data["status"]} if "status" in data else {}
    part = {k: v for k, v in data.items() if k not in STRIPPED_TOP and k != "status"}
    meta = part.get("metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in STRIPPED_META}
        if meta:
            part["metadata"] = meta
        else:
            del part["metadata"]
    return part


def _struct_fields(data: Any, message: Descriptor, prefix: Path, out: set[Path], added: bool) -> None:
    if not isinstance(data, dict):
        return
    fields = fields_by_json_name(message)
    for key, value in data.items():
        f = fields.get(key)
        _value_fields(value, shape_of(message, f) if f is not None else LEAF, prefix + ("f:" + key,), out, added)


def _value_fields(value: Any, shape: Shape, path: Path, out: set[Path], added: bool) -> None:
    """Add the members a value holds at path. A struct is a member only when empty (a leaf);
    map entries and list items always are; a map or list itself when added whole or empty."""
    kind = shape.kind
    if kind == "leaf" or value is None or not value:
        out.add(path)
        return
    if kind == "struct":
        _struct_fields(value, shape.message, path, out, added)  # type: ignore[arg-type]
        return
    if added:
        out.add(path)
    if kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            out.add(path + ("f:" + str(key),))
            if shape.message is not None and item:
                _struct_fields(item, shape.message, path + ("f:" + str(key),), out, added)
    elif kind == "maplist" and isinstance(value, list):
        for item in value:
            item_path = path + (key_element(item, shape.keys),)
            out.add(item_path)
            _struct_fields(item, shape.message, item_path, out, added)  # type: ignore[arg-type]
    elif kind == "set" and isinstance(value, list):
        out.update(path + (value_element(item),) for item in value)
    else:
        out.add(path)  # not the shape the schema says: conversion refuses it later


# ------------------------------------------------------------------ comparison


@dataclass
class Comparison:
    """What changed from one object to another, as structured-merge-diff's Compare."""

    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)

    def changed(self) -> FieldSet:
        return frozenset(self.added | self.modified)


_MISSING: Any = object()


def compare_dicts(old: dict[str, Any], new: dict[str, Any], message: Descriptor) -> Comparison:
    """Compare two object dicts (both already owned_part)."""
    result = Comparison()
    _compare_struct(old, new, message, (), result)
    return result


def _compare_struct(old: dict, new: dict, message: Descriptor, prefix: Path, result: Comparison) -> None:
    fields = fields_by_json_name(message)
    for key in {**old, **new}:
        f = fields.get(key)
        _compare_value(old.get(key, _MISSING), new.get(key, _MISSING),
                       shape_of(message, f) if f is not None else LEAF, prefix + ("f:" + key,), result)


def _compare_value(old: Any, new: Any, shape: Shape, path: Path, result: Comparison) -> None:
    if old is _MISSING:
        _value_fields(new, shape, path, result.added, added=True)
        return
    if new is _MISSING:
        _value_fields(old, shape, path, result.removed, added=True)
        return
    if old == new:
        return
    kind = shape.kind
    if kind == "leaf" or not old or not new or not _same_container(old, new):
        result.modified.add(path)
        return
    if kind == "struct":
        _compare_struct(old, new, shape.message, path, result)  # type: ignore[arg-type]
    elif kind == "map":
        for key in {**old, **new}:
            item_shape = Shape("struct", shape.message) if shape.message is not None else LEAF
            _compare_value(old.get(key, _MISSING), new.get(key, _MISSING), item_shape,
                           path + ("f:" + str(key),), result)
            if key not in old:  # a map's entry is a member even when its value is an object
                result.added.add(path + ("f:" + str(key),))
            elif key not in new:
                result.removed.add(path + ("f:" + str(key),))
    elif kind == "maplist":
        olds = {key_element(i, shape.keys): i for i in old}
        news = {key_element(i, shape.keys): i for i in new}
        for element in {**olds, **news}:
            item_path = path + (element,)
            if element not in olds:
                result.added.add(item_path)
                _struct_fields(news[element], shape.message, item_path, result.added, added=True)  # type: ignore[arg-type]
            elif element not in news:
                result.removed.add(item_path)
                _struct_fields(olds[element], shape.message, item_path, result.removed, added=True)  # type: ignore[arg-type]
            else:
                _compare_struct(olds[element], news[element], shape.message, item_path, result)  # type: ignore[arg-type]
    elif kind == "set":
        old_values, new_values = {value_element(v) for v in old}, {value_element(v) for v in new}
        result.added.update(path + (e,) for e in new_values - old_values)
        result.removed.update(path + (e,) for e in old_values - new_values)


def _same_container(old: Any, new: Any) -> bool:
    return isinstance(old, dict) and isinstance(new, dict) or isinstance(old, list) and isinstance(new, list)


# ------------------------------------------------------------------- FieldsV1


def to_fields_v1(fields: Iterable[Path]) -> dict[str, Any]:
    """A set as Kubernetes writes it: a tree, ``{}`` a member leaf, ``".": {}`` a member
    that has children too."""
    root: dict[str, Any] = {}
    members: set[int] = set()
    for path in fields:
        node = root
        for element in path:
            node = node.setdefault(element, {})
        members.add(id(node))
    _mark(root, members)
    return root


def _mark(node: dict[str, Any], members: set[int]) -> None:
    for child in node.values():
        if child:
            if id(child) in members:
                _mark(child, members)
                child["."] = {}
            else:
                _mark(child, members)


def from_fields_v1(tree: dict[str, Any], prefix: Path = ()) -> FieldSet:
    out: set[Path] = set()
    _collect(tree, prefix, out)
    return frozenset(out)


def _collect(node: dict[str, Any], prefix: Path, out: set[Path]) -> None:
    for element, child in node.items():
        if element == ".":
            out.add(prefix)
        elif not child:
            out.add(prefix + (element,))
        else:
            _collect(child, prefix + (element,), out)


# ------------------------------------------------------------ managedFields entries


class ManagerKey(NamedTuple):
    """What makes two entries one (Kubernetes' manager identifier): an applier is one entry
    whatever its version."""

    manager: str
    operation: str
    api_version: str
    subresource: str = ""


@dataclass
class Managed:
    """An object's managedFields, decoded: each manager's set, in the entries' order."""

    sets: dict[ManagerKey, FieldSet]
    entries: dict[ManagerKey, meta_pb2.ManagedFieldsEntry] = field(default_factory=dict)
    decoded: dict[ManagerKey, FieldSet] = field(default_factory=dict)  # the sets as read

    @classmethod
    def of(cls, meta: Any) -> Managed:
        """The entries of an ObjectMeta (entries of one manager key are one set)."""
        sets: dict[ManagerKey, FieldSet] = {}
        entries: dict[ManagerKey, meta_pb2.ManagedFieldsEntry] = {}
        for entry in meta.managed_fields:
            key = ManagerKey(entry.manager, entry.operation,
                             "" if entry.operation == APPLY else entry.api_version, entry.subresource)
            out: set[Path] = set()
            _struct_paths(entry.fields_v1, (), out)
            sets[key] = sets.get(key, EMPTY) | out
            entries[key] = entry
        return cls(sets, entries, dict(sets))

    def write(self, meta: Any, touched: ManagerKey | None, api_version: str, stamp: Any) -> None:
        """Store the sets in meta.managed_fields: unchanged entries as they were, the touched
        manager's (and any whose set changed) with a fresh FieldsV1 and ``stamp(time)``; a
        manager left with no fields has no entry."""
        written = []
        for key, fields in self.sets.items():
            if not fields:
                continue
            previous = self.entries.get(key)
            if previous is not None and self.decoded.get(key) == fields:
                if key == touched:  # the same fields, written again: only the time changes
                    previous = _copy(previous)
                    stamp(previous.time)
                written.append(previous)
                continue
            entry = meta_pb2.ManagedFieldsEntry(manager=key.manager, operation=key.operation,
                                                api_version=key.api_version or api_version,
                                                subresource=key.subresource, fields_type=FIELDS_V1)
            entry.fields_v1.MergeFromString(_fields_v1_bytes(fields))
            if previous is not None and key != touched:
                entry.time.CopyFrom(previous.time)
            else:
                stamp(entry.time)
            written.append(entry)
        written = [_copy(e) for e in written]  # before clearing: the previous entries may live in meta
        meta.ClearField("managed_fields")
        meta.managed_fields.extend(written)


@lru_cache(maxsize=512)
def _fields_v1_bytes(fields: FieldSet) -> bytes:
    """A set's FieldsV1 as a serialized Struct. Building a Struct walks in Python value by
    value; objects made from one manifest or template have one set, so it is built once."""
    struct = Struct()
    struct.update(to_fields_v1(fields))
    return struct.SerializeToString()


def _copy(entry: meta_pb2.ManagedFieldsEntry) -> meta_pb2.ManagedFieldsEntry:
    copy = meta_pb2.ManagedFieldsEntry()
    copy.CopyFrom(entry)
    return copy


def _struct_paths(struct: Struct, prefix: Path, out: set[Path]) -> None:
    """from_fields_v1, read straight from the stored Struct (it runs on every tracked write)."""
    for element, value in struct.fields.items():
        child = value.struct_value
        if element == ".":
            out.add(prefix)
        elif not child.fields:
            out.add(prefix + (element,))
        else:
            _struct_paths(child, prefix + (element,), out)


def record_update(managed: Managed, key: ManagerKey, change: Comparison) -> None:
    """An Update by ``key`` (structured-merge-diff's Updater.Update): the manager takes what it
    added or modified, the others lose that and everything removed."""
    changed = change.changed()
    removed = frozenset(change.removed)
    for other, fields in list(managed.sets.items()):
        if other != key and (fields & changed or fields & removed):
            managed.sets[other] = fields - changed - removed
    managed.sets[key] = (managed.sets.get(key, EMPTY) - removed) | changed
