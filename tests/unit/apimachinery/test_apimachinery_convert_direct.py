"""to_dict's direct walk (convert._direct) writes exactly what the general path writes
(json_format.MessageToDict, then Kubernetes' idioms): for every kind, with every field set
(nested messages, lists, maps, 64-bit integers, bytes, Timestamps, a Struct, both arms of an
IntOrString and neither), under hypothesis, and for the example manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from apimachinery.convert import INT_OR_STRING, _direct, _general, _is_direct, from_dict, to_dict
from apimachinery.kinds import KINDS

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))
MAX_DEPTH = 6


def fill(message: Message, draw: st.DrawFn, depth: int = 0) -> None:
    """Set most fields of message (at random: left unset, one value, a few) down to MAX_DEPTH."""
    for field in message.DESCRIPTOR.fields:
        if depth >= MAX_DEPTH or draw(st.integers(0, 3)) == 0:  # most fields set
            continue
        target = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_field = field.message_type.fields_by_name["value"]
            for key in draw(st.lists(st.text(max_size=4), max_size=2)):
                if value_field.message_type is None:
                    target[key] = scalar(value_field, draw)
                else:
                    fill(target[key], draw, depth + 1)
        elif field.is_repeated:
            for _ in range(draw(st.integers(0, 2))):
                if field.message_type is None:
                    target.append(scalar(field, draw))
                else:
                    sub(target.add(), draw, depth)
        elif field.message_type is None:
            setattr(message, field.name, scalar(field, draw))
        else:
            sub(target, draw, depth)


def sub(message: Message, draw: st.DrawFn, depth: int) -> None:
    name = message.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        message.seconds = draw(st.integers(0, 4_000_000_000))
        message.nanos = draw(st.sampled_from([0, 5_000_000, 123_456_789]))
    elif name == "google.protobuf.Struct":
        value = st.one_of(st.text(max_size=4), st.booleans(), st.integers(-1000, 1000), st.none(),
                          st.lists(st.text(max_size=2), max_size=2),
                          st.dictionaries(st.text(max_size=4), st.dictionaries(st.text(max_size=2), st.just({})),
                                          max_size=2))
        message.update(draw(st.dictionaries(st.text(max_size=4), value, max_size=3)))
    elif name == INT_OR_STRING:
        message.SetInParent()  # present, though perhaps with neither arm
        arm = draw(st.sampled_from(["int_val", "str_val", None]))
        if arm == "int_val":
            message.int_val = draw(st.integers(-2**31, 2**31 - 1))
        elif arm == "str_val":
            message.str_val = draw(st.text(max_size=4))
    else:
        message.SetInParent()
        fill(message, draw, depth + 1)


def scalar(field: FieldDescriptor, draw: st.DrawFn) -> object:
    if field.type == FieldDescriptor.TYPE_STRING:
        return draw(st.text(max_size=6))
    if field.type == FieldDescriptor.TYPE_BYTES:
        return draw(st.binary(max_size=6))
    if field.type == FieldDescriptor.TYPE_BOOL:
        return draw(st.booleans())
    if field.type in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64):
        return draw(st.integers(-2**63, 2**63 - 1))
    if field.type in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return draw(st.integers(0, 2**64 - 1))
    if field.type in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return draw(st.integers(0, 2**32 - 1))
    return draw(st.integers(-2**31, 2**31 - 1))


@st.composite
def objects(draw: st.DrawFn) -> Message:
    info = draw(st.sampled_from(KINDS))
    obj = info.message()
    fill(obj, draw)
    return obj


def test_every_kind_is_written_directly() -> None:
    assert [info.kind for info in KINDS if not _is_direct(info.message.DESCRIPTOR)] == []


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(objects())
def test_the_direct_walk_writes_what_the_general_path_writes(obj: Message) -> None:
    assert json.dumps(_direct(obj)) == json.dumps(_general(obj))  # the same keys, in the same order


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_examples_are_written_alike(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            obj = from_dict(doc)
            assert json.dumps(_direct(obj)) == json.dumps(_general(obj))
            assert to_dict(obj)["kind"] == doc["kind"]
