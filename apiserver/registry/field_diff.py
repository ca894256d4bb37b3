"""What a write changed, in field paths: structured-merge-diff's Compare, walked on the
protobuf messages themselves.

Every create and update a field manager makes is compared with the stored object, so this
runs on the write path. It never turns an object into JSON: sub-messages that are equal
(protobuf's own comparison, in C) are skipped whole, and only the fields that differ are
walked, giving the same paths managed_fields.compare_dicts gives for JSON dicts.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from apiserver.registry.managed_fields import (KEY_DEFAULTS, STRIPPED_META, STRIPPED_TOP, Comparison, Path,
                                               Shape, fields_by_json_name, shape_of, value_element, compact_json)


def compare(old: Message | None, new: Message, subresource: str = "") -> Comparison:
    """What an update of old to new (old None: a create) changed in the fields managers own:
    the status alone for the "status" subresource, all but the status otherwise."""
    result = Comparison()
    old = old if old is not None else type(new)()
    skip = STRIPPED_TOP | ({"status"} if subresource != "status" else set())
    only = "status" if subresource == "status" else None
    _compare_messages(old, new, (), result, skip, only)
    return result


def _compare_messages(old: Message, new: Message, prefix: Path, result: Comparison,
                      skip: set[str] | frozenset[str] = frozenset(), only: str | None = None) -> None:
    message = new.DESCRIPTOR
    olds = {f.number: (f, v) for f, v in old.ListFields()}
    news = {f.number: (f, v) for f, v in new.ListFields()}
    for number in olds.keys() | news.keys():
        f, _ = news.get(number) or olds[number]
        name = f.json_name
        if name in skip or (only is not None and name != only):
            continue
        path = prefix + ("f:" + name,)
        shape = shape_of(message, f)
        if number not in olds:
            members(news[number][1], shape, path, result.added, added=True)
        elif number not in news:
            members(olds[number][1], shape, path, result.removed, added=True)
        else:
            old_value, new_value = olds[number][1], news[number][1]
            if old_value != new_value:
                _compare_values(old_value, new_value, shape, path, result)


def _compare_values(old: Any, new: Any, shape: Shape, path: Path, result: Comparison) -> None:
    kind = shape.kind
    if kind == "leaf":
        result.modified.add(path)
    elif kind == "struct":
        _compare_messages(old, new, path, result, STRIPPED_META if path == ("f:metadata",) else frozenset())
    elif kind == "map":
        for key in set(old) | set(new):
            item_path = path + ("f:" + key,)
            if key not in old:
                result.added.add(item_path)
                if shape.message is not None:
                    _message_members(new[key], item_path, result.added, True)
            elif key not in new:
                result.removed.add(item_path)
                if shape.message is not None:
                    _message_members(old[key], item_path, result.removed, True)
            elif old[key] != new[key]:
                if shape.message is None:
                    result.modified.add(item_path)
                else:
                    _compare_messages(old[key], new[key], item_path, result)
    elif kind == "maplist":
        olds = {key_of(item, shape.keys): item for item in old}
        news = {key_of(item, shape.keys): item for item in new}
        for element in olds.keys() | news.keys():
            item_path = path + (element,)
            if element not in olds:
                result.added.add(item_path)
                _message_members(news[element], item_path, result.added, True)
            elif element not in news:
                result.removed.add(item_path)
                _message_members(olds[element], item_path, result.removed, True)
            elif olds[element] != news[element]:
                _compare_messages(olds[element], news[element], item_path, result)
    elif kind == "set":
        old_values, new_values = {value_element(v) for v in old}, {value_element(v) for v in new}
        result.added.update(path + (e,) for e in new_values - old_values)
        result.removed.update(path + (e,) for e in old_values - new_values)


def members(value: Any, shape: Shape, path: Path, out: set[Path], added: bool) -> None:
    """The members a field's value holds (managed_fields._value_fields, on protobuf values)."""
    kind = shape.kind
    if kind == "leaf":
        out.add(path)
        return
    if kind == "struct":
        if not value.ListFields():
            out.add(path)  # an empty object is a leaf
        else:
            _message_members(value, path, out, added)
        return
    if added:
        out.add(path)
    if kind == "map":
        for key in value:
            out.add(path + ("f:" + key,))
            if shape.message is not None and value[key].ListFields():
                _message_members(value[key], path + ("f:" + key,), out, added)
    elif kind == "maplist":
        for item in value:
            item_path = path + (key_of(item, shape.keys),)
            out.add(item_path)
            _message_members(item, item_path, out, added)
    elif kind == "set":
        out.update(path + (value_element(v),) for v in value)


def _message_members(message: Message, prefix: Path, out: set[Path], added: bool) -> None:
    descriptor: Descriptor = message.DESCRIPTOR
    skip = STRIPPED_META if prefix == ("f:metadata",) else frozenset()
    for f, value in message.ListFields():
        if f.json_name in skip:
            continue
        members(value, shape_of(descriptor, f), prefix + ("f:" + f.json_name,), out, added)


def key_of(item: Message, keys: tuple[str, ...]) -> str:
    """managed_fields.key_element of an item message: unset key fields as JSON omits them."""
    fields: dict[str, FieldDescriptor] = fields_by_json_name(item.DESCRIPTOR)
    named: dict[str, Any] = {}
    for key in keys:
        value = getattr(item, fields[key].name)
        if value:
            named[key] = value
        elif key in KEY_DEFAULTS:
            named[key] = KEY_DEFAULTS[key]
    return "k:" + compact_json(named)
