"""Conversion between Kubernetes-style JSON/YAML dicts and the protobuf messages.

json_format does almost all of it: fields carry Kubernetes' JSON names, and unknown
fields are rejected. Two Kubernetes idioms need a small descriptor-driven walk:

* IntOrString (``maxSurge: 1`` or ``maxSurge: "25%"``) is a oneof message in the
  protos, written in YAML as a bare number or string;
* resource quantities (``cpu: 1``) may be written as numbers, but are strings.

Whatever a manifest holds, conversion ends in an object or a ConversionError that names
the field: a wrongly typed value, a list where an object belongs, a number outside its
field's range (``containerPort: 2147483648`` in an int32) are all refused here, and a
bad value is quoted only in part (a 5 MB string is not echoed back whole).
"""

from __future__ import annotations

import base64
import re
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from apimachinery.kinds import KindInfo, UnknownKindError, info_of, resolve_resource, BY_KIND

INT_OR_STRING = "pykube.v1.IntOrString"
WELL_KNOWN_PREFIX = "google.protobuf."
# map<string,string> fields whose values are resource quantities ("250m", 1, "64Mi").
QUANTITY_MAPS = frozenset({"requests", "limits", "capacity", "allocatable"})


# How much of a bad value a message quotes.
MAX_QUOTED_CHARS = 80


class ConversionError(ValueError):
    """A manifest that cannot become an API object; the message names the problem."""


def _shown(value: Any) -> str:
    """repr(value), cut short: a message names a bad value, it does not echo a huge one."""
    text = repr(value) if not isinstance(value, (dict, list)) else _short_repr(value)
    return text if len(text) <= MAX_QUOTED_CHARS else text[:MAX_QUOTED_CHARS] + "..."


def _cut(value: Any) -> str:
    """str(value), cut short like _shown."""
    text = str(value) if isinstance(value, (str, int, float)) else _shown(value)
    return text if len(text) <= MAX_QUOTED_CHARS else text[:MAX_QUOTED_CHARS] + "..."


def _short_repr(value: Any) -> str:
    """repr of a container without walking all of it (it may be huge or deeply nested)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_shown(k)}: ..." for k in list(value)[:3]) + (", ...}" if len(value) > 3 else "}")
    return "[" + ", ".join("..." for _ in value[:3]) + (", ...]" if len(value) > 3 else "]")


def _json_fields(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    fields = {}
    for f in descriptor.fields:
        fields[f.json_name] = f
        fields[f.name] = f
    return fields


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _to_proto_json(data: Any, descriptor: Descriptor, path: str, dropped: list[str] | None = None) -> Any:
    """Rewrite Kubernetes idioms in a JSON dict into what json_format expects. With a
    ``dropped`` list, unknown fields are left out and their paths appended to it."""
    _check_object(data, path)
    fields = _json_fields(descriptor)
    out = {}
    for key, value in data.items():
        field = fields.get(key)
        here = f"{path}.{key}"
        if field is None and dropped is not None:
            dropped.append(here)
        elif field is None or value is None:
            out[key] = value  # json_format names unknown fields; null clears a field
        elif _is_map(field):
            if not isinstance(value, dict):
                raise ConversionError(f"{here}: expected a mapping, got {_type_name(value)} {_shown(value)}")
            value = {_map_key(k, here): v for k, v in value.items()}
            value_field = field.message_type.fields_by_name["value"]
            if field.name in QUANTITY_MAPS:
                value = {k: (str(v) if _is_number(v) else v) for k, v in value.items()}
            if value_field.message_type is None:
                for k, v in value.items():
                    _check_scalar(v, value_field, f"{here}.{k}")
            else:
                value = {k: _to_proto_json(v, value_field.message_type, f"{here}.{k}", dropped)
                         for k, v in value.items()}
            out[key] = value
        elif field.message_type is None:
            if field.is_repeated:
                if not isinstance(value, list):
                    raise ConversionError(f"{here}: expected a list, got {_type_name(value)} {_shown(value)}")
                for i, item in enumerate(value):
                    _check_scalar(item, field, f"{here}[{i}]")
            else:
                _check_scalar(value, field, here)
            out[key] = value
        elif field.message_type.full_name == INT_OR_STRING:
            out[key] = _int_or_string_to_proto_json(value, here)
        elif field.message_type.full_name.startswith(WELL_KNOWN_PREFIX):
            out[key] = value  # Timestamp and friends have JSON forms of their own: json_format's to judge
        elif field.is_repeated:
            if not isinstance(value, list):
                raise ConversionError(f"{here}: expected a list, got {_type_name(value)} {_shown(value)}")
            out[key] = [_to_proto_json(item, field.message_type, f"{here}[{i}]", dropped)
                        for i, item in enumerate(value)]
        else:
            out[key] = _to_proto_json(value, field.message_type, here, dropped)
    return out


def _check_object(data: Any, path: str) -> None:
    """A message field holds a mapping (json_format would take a list as one, field by field)."""
    if not isinstance(data, dict):
        raise ConversionError(f"{path}: expected a mapping, got {_type_name(data)} {_shown(data)}")
    for key in data:
        if not isinstance(key, str):
            raise ConversionError(f'{path}: unknown field "{key}" (field names are strings)')


def _map_key(key: Any, path: str) -> str:
    """A map key as YAML-to-JSON conversion gives it: ``1: a`` and ``true: b`` become "1" and "true"."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int):
        return str(key)
    raise ConversionError(f"{path}: keys must be strings, got {_type_name(key)} {_shown(key)}")


_INTEGER_TYPES = frozenset({
    FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32,
    FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64,
})
_INT64_TYPES = frozenset({
    FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
})
_FLOAT_TYPES = frozenset({FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE})
# The values each integer type holds, and its Go name for messages.
_INTEGER_RANGES = {
    FieldDescriptor.TYPE_INT32: ("int32", -2**31, 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: ("int32", -2**31, 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: ("uint32", 0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: ("int64", -2**63, 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: ("int64", -2**63, 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: ("uint64", 0, 2**64 - 1),
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _type_name(value: Any) -> str:
    return {dict: "mapping", list: "list", str: "string", bool: "boolean", int: "integer",
            float: "number"}.get(type(value), type(value).__name__)


def _check_scalar(value: Any, field: FieldDescriptor, path: str) -> None:
    """Reject a wrongly typed scalar with a message that names the field."""
    if field.type in _INTEGER_TYPES:
        ok, expected = _is_number(value) and float(value).is_integer(), "an integer"
    elif field.type in _FLOAT_TYPES:
        ok, expected = _is_number(value), "a number"
    elif field.type == FieldDescriptor.TYPE_BOOL:
        ok, expected = isinstance(value, bool), "a boolean (true or false)"
    elif field.type == FieldDescriptor.TYPE_STRING:
        ok, expected = isinstance(value, str), "a string"
    else:
        return
    if not ok:
        raise ConversionError(f"{path}: expected {expected}, got {_type_name(value)} {_shown(value)}")
    if field.type in _INTEGER_RANGES:
        name, low, high = _INTEGER_RANGES[field.type]
        if not low <= int(value) <= high:
            raise ConversionError(f"{path}: Invalid value: {_shown(value)}: "
                                  f"must be between {low} and {high} ({name})")


def _int_or_string_to_proto_json(value: Any, path: str) -> dict[str, Any]:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ConversionError(f"{path}: expected an integer or a string, got {_type_name(value)} {_shown(value)}")
    if isinstance(value, int) and not -2**31 <= value < 2**31:
        raise ConversionError(f"{path}: Invalid value: {_shown(value)}: "
                              f"must be between {-2**31} and {2**31 - 1} (int32)")
    return {"intVal": value} if isinstance(value, int) else {"strVal": value}


def _from_proto_json(data: Any, descriptor: Descriptor) -> Any:
    """The inverse of _to_proto_json, applied to json_format's output."""
    if not isinstance(data, dict):
        return data
    fields = _json_fields(descriptor)
    for key, value in data.items():
        field = fields.get(key)
        if field is None or _is_map(field):
            continue
        if field.message_type is None:
            # proto3 JSON writes 64-bit integers as strings; Kubernetes writes numbers.
            if field.type in _INT64_TYPES:
                data[key] = [int(x) for x in value] if isinstance(value, list) else int(value)
            continue
        if field.message_type.full_name == INT_OR_STRING:
            data[key] = value.get("intVal", value.get("strVal", 0))
        elif field.message_type.full_name.startswith(WELL_KNOWN_PREFIX):
            continue  # a Timestamp is a string, a Struct (managedFields' fieldsV1) plain JSON already
        elif isinstance(value, list):
            data[key] = [_from_proto_json(item, field.message_type) for item in value]
        else:
            data[key] = _from_proto_json(value, field.message_type)
    return data


_UNKNOWN_FIELD = re.compile(r'has no field named "([^"]+)" at "([^"]+)"')
_AT_PATH = re.compile(r'\s*at "?([\w\[\]]+(?:\.[\w\[\]]+)*)"?\.*$')
_PARSE_CHAIN = re.compile(r"^(Failed to parse \w+ field: )+")


def _explain(err: json_format.ParseError) -> str:
    """Turn json_format's message into "<path>: <problem>"."""
    text = str(err).split("\n", 1)[0]
    m = _UNKNOWN_FIELD.search(text)
    if m:
        return f'unknown field "{m.group(1)}" in {m.group(2)}'
    at = _AT_PATH.search(text)
    problem = _AT_PATH.sub("", _PARSE_CHAIN.sub("", text)).rstrip(".")
    return f"{at.group(1)}: {problem}" if at else problem


def message_from_dict(data: Any, message_cls: type[Message], root: str) -> Message:
    """Parse one JSON-shaped dict into message_cls, rejecting unknown fields."""
    message = message_cls()
    prepared = _to_proto_json(data, message.DESCRIPTOR, root)
    try:
        json_format.ParseDict(prepared, message, ignore_unknown_fields=False)
    except json_format.ParseError as err:
        raise ConversionError(_explain(err)) from None
    return message


def message_from_dict_dropping_unknown(data: Any, message_cls: type[Message],
                                       root: str = "") -> tuple[Message, list[str]]:
    """Parse like message_from_dict, but leave unknown fields out instead of refusing them:
    (message, the dropped fields' paths), paths as Kubernetes' field validation names them
    (``spec.containers[0].foo``, relative to the object). The HTTP API's fieldValidation
    Warn and Ignore, and Strict's message, come from this list."""
    message = message_cls()
    dropped: list[str] = []
    prepared = _to_proto_json(data, message.DESCRIPTOR, root, dropped)
    try:
        json_format.ParseDict(prepared, message, ignore_unknown_fields=False)
    except json_format.ParseError as err:
        raise ConversionError(_explain(err)) from None
    cut = len(root) + 1
    return message, [path[cut:] if root else path.lstrip(".") for path in dropped]


def kind_of_manifest(data: Any) -> KindInfo:
    """The kind a manifest declares, checking apiVersion like the real API does."""
    if not isinstance(data, dict):
        raise ConversionError(f"a manifest must be a mapping, got {type(data).__name__}")
    kind = data.get("kind")
    api_version = data.get("apiVersion")
    if not kind:
        raise ConversionError("Object 'Kind' is missing")
    if not api_version:
        raise ConversionError(f"apiVersion is missing in {kind}")
    if not isinstance(kind, str) or kind not in BY_KIND:
        known = ", ".join(BY_KIND)
        raise ConversionError(f'no matches for kind "{_cut(kind)}" in version "{_cut(api_version)}" '
                              f'(known kinds: {known})')
    info = BY_KIND[kind]
    if api_version != info.api_version:
        raise ConversionError(
            f'no matches for kind "{kind}" in version "{_cut(api_version)}" (it is served as "{info.api_version}")'
        )
    return info


def from_dict(data: Any) -> Message:
    """A manifest (as yaml.safe_load gives it) → typed API object."""
    info = kind_of_manifest(data)
    return message_from_dict(data, info.message, info.kind)


# ------------------------------------------------------------------ message → dict, directly
#
# json_format.MessageToDict (pure Python, general) then _from_proto_json costs about 0.1 ms a
# Pod, which every answer of the HTTP API paid. The API objects use few field types: strings,
# integers, bools, bytes, maps, nested messages, Timestamp, Struct and IntOrString; for a
# message made of only those, _direct walks the set fields once and writes the same dict
# (json_format's key order, ListFields' field-number order; int64 as numbers, bytes as base64)
# three to four times faster (tests/unit/apimachinery/test_apimachinery_convert_direct.py holds
# the two paths to the same output). A message with any other field type takes the general path.

_DIRECT_SCALARS = _INTEGER_TYPES | {FieldDescriptor.TYPE_BOOL, FieldDescriptor.TYPE_STRING}
_TIMESTAMP, _STRUCT = "google.protobuf.Timestamp", "google.protobuf.Struct"
_direct_ok: dict[str, bool] = {}  # message full name -> whether _direct can write it


def _is_direct(descriptor: Descriptor) -> bool:
    name = descriptor.full_name
    known = _direct_ok.get(name)
    if known is None:
        _direct_ok[name] = False  # a message that contains itself takes the general path
        known = _direct_ok[name] = all(_field_is_direct(f) for f in descriptor.fields)
    return known


def _field_is_direct(field: FieldDescriptor) -> bool:
    if field.message_type is None:
        return field.type in _DIRECT_SCALARS or field.type == FieldDescriptor.TYPE_BYTES
    if field.message_type.full_name in (_TIMESTAMP, _STRUCT, INT_OR_STRING):
        return True
    if field.message_type.full_name.startswith(WELL_KNOWN_PREFIX):
        return False
    if _is_map(field):
        key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
        # json_format leaves a map's 64-bit values as strings and _from_proto_json keeps them.
        return (key.type == FieldDescriptor.TYPE_STRING and value.type not in _INT64_TYPES
                and _field_is_direct(value))
    return _is_direct(field.message_type)


# How _direct writes a field's value(s): a scalar as it is, or by one of these.
_SCALAR, _BYTES, _TIMESTAMP_VALUE, _STRUCT_VALUE, _INT_OR_STRING_VALUE, _MESSAGE = range(6)
_LIST, _MAP = "list", "map"
_plans: dict[FieldDescriptor, tuple[str, str, int]] = {}  # field -> (JSON name, shape, value's way)


def _value_way(field: FieldDescriptor) -> int:
    if field.message_type is None:
        return _BYTES if field.type == FieldDescriptor.TYPE_BYTES else _SCALAR
    return {_TIMESTAMP: _TIMESTAMP_VALUE, _STRUCT: _STRUCT_VALUE,
            INT_OR_STRING: _INT_OR_STRING_VALUE}.get(field.message_type.full_name, _MESSAGE)


def _plan(field: FieldDescriptor) -> tuple[str, str, int]:
    plan = _plans.get(field)
    if plan is None:
        if _is_map(field):
            plan = (field.json_name, _MAP, _value_way(field.message_type.fields_by_name["value"]))
        else:
            plan = (field.json_name, _LIST if field.is_repeated else "", _value_way(field))
        _plans[field] = plan
    return plan


def _direct_value(way: int, value: Any) -> Any:
    if way == _SCALAR:
        return value
    if way == _MESSAGE:
        return _direct(value)
    if way == _TIMESTAMP_VALUE:
        return value.ToJsonString()
    if way == _BYTES:
        return base64.b64encode(value).decode("utf-8")
    if way == _STRUCT_VALUE:
        return _struct(value)
    which = value.WhichOneof("value")  # IntOrString: the arm that is set
    return 0 if which is None else getattr(value, which)


def _struct(struct: Message) -> dict[str, Any]:
    """A google.protobuf.Struct (managedFields' fieldsV1) as the JSON object it holds."""
    fields = struct.fields  # type: ignore[attr-defined]
    return {key: _json_value(fields[key]) for key in fields}  # (the map's items() is slower: a Python mixin)


def _json_value(value: Message) -> Any:
    which = value.WhichOneof("kind")
    if which == "struct_value":
        return _struct(value.struct_value)  # type: ignore[attr-defined]
    if which == "string_value" or which == "bool_value":
        return getattr(value, which)
    if which == "list_value":
        return [_json_value(item) for item in value.list_value.values]  # type: ignore[attr-defined]
    if which is None or which == "null_value":
        return None
    return json_format.MessageToDict(value)  # a number: json_format's rules for doubles


def _direct(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, value in message.ListFields():
        name, shape, way = _plans.get(field) or _plan(field)
        if shape == _LIST:
            out[name] = list(value) if way == _SCALAR else [_direct_value(way, item) for item in value]
        elif shape == _MAP:
            out[name] = dict(value) if way == _SCALAR else {k: _direct_value(way, v) for k, v in value.items()}
        else:
            out[name] = value if way == _SCALAR else _direct_value(way, value)
    return out


def _general(obj: Message) -> dict[str, Any]:
    data = json_format.MessageToDict(obj)
    _from_proto_json(data, obj.DESCRIPTOR)
    return data


def to_dict(obj: Message) -> dict[str, Any]:
    """Typed API object → Kubernetes-style dict (apiVersion and kind always set)."""
    try:
        info: KindInfo | None = info_of(obj)
    except UnknownKindError:
        info = None
    data = _direct(obj) if _is_direct(obj.DESCRIPTOR) else _general(obj)
    if info is not None:
        head = {"apiVersion": info.api_version, "kind": info.kind}
        data.pop("apiVersion", None)
        data.pop("kind", None)
        data = {**head, **data}
    return data


__all__ = [
    "ConversionError",
    "from_dict",
    "kind_of_manifest",
    "message_from_dict",
    "message_from_dict_dropping_unknown",
    "resolve_resource",
    "to_dict",
]
