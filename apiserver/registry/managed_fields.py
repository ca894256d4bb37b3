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
* ``compare``: what changed between two objects (added, modified, removed): an Update
  takes ownership of what it added or modified, and everyone loses what it removed.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterable, NamedTuple

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct

from apimachinery.convert import to_dict
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


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def key_element(item: Any, keys: tuple[str, ...]) -> str:
    """``k:{"name":"web"}``: an associative list's item named by its key fields."""
    item = item if isinstance(item, dict) else {}
    return "k:" + _json({k: item.get(k, KEY_DEFAULTS.get(k)) for k in keys
                         if k in item or k in KEY_DEFAULTS})


def value_element(value: Any) -> str:
    return "v:" + _json(value)


def element_string(element: str) -> str:
    """One path element as Kubernetes prints it: ``.image``, ``[name="web"]``, ``[="x"]``."""
    tag, body = element[:2], element[2:]
    if tag == "f:":
        return "." + body
    if tag == "k:":
        return "[" + ",".join(f"{k}={_json(v)}" for k, v in json.loads(body).items()) + "]"
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


def compare(old: Message | None, new: Message, subresource: str = "") -> Comparison:
    """What an update of old to new changed in the fields managers own. Only top-level
    fields that differ (protobuf equality, cheap) are turned into JSON and walked."""
    result = Comparison()
    message = new.DESCRIPTOR
    wholes: dict[int, dict[str, Any]] = {}
    for f in message.fields:
        name = f.json_name
        if name in STRIPPED_TOP or (name == "status") != (subresource == "status"):
            continue
        if old is not None and getattr(old, f.name) == getattr(new, f.name):
            continue
        old_value = _top_json(old, f, wholes) if old is not None else _MISSING
        new_value = _top_json(new, f, wholes)
        if name == "metadata":
            old_value, new_value = _owned_meta(old_value), _owned_meta(new_value)
        if old_value is _MISSING and new_value is _MISSING:
            continue
        _compare_value(old_value, new_value, shape_of(message, f), ("f:" + name,), result)
    return result


def _owned_meta(meta: Any) -> Any:
    if meta is _MISSING:
        return meta
    return owned_part({"metadata": meta}).get("metadata", _MISSING)


def _top_json(obj: Message, f: FieldDescriptor, wholes: dict[int, dict[str, Any]]) -> Any:
    """One top-level field of an object in its JSON form, or _MISSING when unset."""
    if f.message_type is not None and not f.is_repeated:
        if not obj.HasField(f.name):
            return _MISSING
        value = getattr(obj, f.name)
        if f.message_type.full_name == meta_pb2.ObjectMeta.DESCRIPTOR.full_name:
            value = _without_managed_fields(value)
        return to_dict(value)
    # A scalar or a list at the top (an Event's reason, a Role's rules): from the whole object's JSON.
    if id(obj) not in wholes:
        wholes[id(obj)] = to_dict(obj)
    return wholes[id(obj)].get(f.json_name, _MISSING)


def _without_managed_fields(meta: Message) -> Message:
    if not meta.managed_fields:  # type: ignore[attr-defined]
        return meta
    copy = type(meta)()
    copy.CopyFrom(meta)
    copy.ClearField("managed_fields")
    return copy


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
    entries: dict[ManagerKey, meta_pb2.ManagedFieldsEntry]

    @classmethod
    def of(cls, meta: meta_pb2.ManagedFieldsEntry | Any) -> Managed:
        sets: dict[ManagerKey, FieldSet] = {}
        entries: dict[ManagerKey, meta_pb2.ManagedFieldsEntry] = {}
        for entry in meta.managed_fields:
            key = ManagerKey(entry.manager, entry.operation,
                             "" if entry.operation == APPLY else entry.api_version, entry.subresource)
            tree = json_format.MessageToDict(entry.fields_v1)
            sets[key] = sets.get(key, EMPTY) | from_fields_v1(tree)
            entries[key] = entry
        return cls(sets, entries)

    def write(self, meta: Any, touched: ManagerKey | None, api_version: str, stamp: Any) -> None:
        """Store the sets in meta.managed_fields: unchanged entries as they were, the touched
        manager's (and any whose set changed) with a fresh FieldsV1; ``stamp(ts)`` sets a time."""
        old = Managed.of(meta)
        meta.ClearField("managed_fields")
        for key, fields in self.sets.items():
            if not fields:
                continue
            entry = meta.managed_fields.add()
            previous = old.entries.get(key)
            if previous is not None and old.sets.get(key) == fields and key != touched:
                entry.CopyFrom(previous)
                continue
            entry.manager, entry.operation = key.manager, key.operation
            entry.api_version = key.api_version or api_version
            entry.subresource = key.subresource
            entry.fields_type = FIELDS_V1
            entry.fields_v1.update(to_fields_v1(fields))
            if previous is not None and key != touched:
                entry.time.CopyFrom(previous.time)
            else:
                stamp(entry.time)


def record_update(managed: Managed, key: ManagerKey, change: Comparison) -> None:
    """An Update by ``key`` (structured-merge-diff's Updater.Update): the manager takes what it
    added or modified, the others lose that and everything removed."""
    changed = change.changed()
    removed = frozenset(change.removed)
    for other, fields in list(managed.sets.items()):
        if other != key and (fields & changed or fields & removed):
            managed.sets[other] = fields - changed - removed
    managed.sets[key] = (managed.sets.get(key, EMPTY) - removed) | changed
