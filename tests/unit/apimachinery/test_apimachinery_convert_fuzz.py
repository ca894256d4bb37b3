"""Manifest conversion and the YAML reader under hypothesis: whatever a manifest holds, the answer
is an object or a ConversionError (one line, naming the field), and whatever text a file holds,
the reader gives documents or a yaml.YAMLError; never another exception, never a RecursionError.
A valid object survives to_dict → from_dict unchanged."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apimachinery.convert import ConversionError, from_dict, to_dict
from apimachinery.yaml_reader import (MAX_DEPTH, DepthError, LimitedSafeLoader, depth_exceeds, load_all,
                                      load_json)

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))
SEEDS = [doc for path in EXAMPLES for doc in yaml.safe_load_all(path.read_text()) if doc] + [
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
     "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerPort": 80}],
                              "resources": {"limits": {"cpu": 1}}}]}},
    {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "n1"},
     "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40, "renewTime": "2024-05-01T10:00:00Z"}},
]
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10),
              st.sampled_from([2**31, -2**31 - 1, 2**63, 2**64, 10**30, "", "..", "a/b", "\x00", "é", "1e999"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(
        st.one_of(st.text(max_size=8), st.integers(), st.booleans(),
                  st.sampled_from(["name", "spec", "metadata", "port", "containers", "labels", "replicas"])),
        inner, max_size=3)),
    max_leaves=12)


def places(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += places(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += places(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: Any) -> Any:
    doc = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from([p for p in places(doc) if p]))
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = draw(json_values)
    return doc


@FUZZ
@given(manifest=mutated())
def test_conversion_gives_an_object_or_a_conversion_error(manifest: Any) -> None:
    try:
        obj = from_dict(manifest)
    except ConversionError as err:
        text = str(err)
        assert text and "\n" not in text and len(text) < 2000, text
        return
    assert from_dict(to_dict(obj)) == obj  # what converts, round-trips


@FUZZ
@given(value=json_values)
def test_any_value_as_a_manifest(value: Any) -> None:
    with pytest.raises(ConversionError):
        from_dict(value if not isinstance(value, dict) else {**value, "kind": "Gadget", "apiVersion": "v1"})


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: s["kind"])
def test_every_seed_round_trips(seed: dict[str, Any]) -> None:
    obj = from_dict(seed)
    assert from_dict(to_dict(obj)) == obj


yaml_pieces = st.sampled_from(["a", ": ", "- ", "\n", "  ", "[", "]", "{", "}", ",", "&x ", "*x", "&y ", "*y",
                               "<<: ", "!!binary ", "!!python/object ", "'", '"', "#", "---\n", "...\n", "|",
                               ">", "?", "%YAML 1.1\n", "\t", "\x00", "\ufeff", "é", "2024-05-01", "1e999",
                               "0x1F", "~", "null", ".inf", "!!set ", "!!omap "])


@FUZZ
@given(pieces=st.lists(yaml_pieces, max_size=40))
def test_any_text_gives_documents_or_a_yaml_error(pieces: list[str]) -> None:
    text = "".join(pieces)
    for loader in (None, LimitedSafeLoader):
        try:
            documents = load_all(text, loader)
        except yaml.YAMLError:
            continue
        assert isinstance(documents, list)


@FUZZ
@given(example=st.sampled_from(EXAMPLES), at=st.integers(0, 10_000), cut=st.integers(0, 20), insert=yaml_pieces)
def test_mangled_example_files_give_documents_or_a_yaml_error(example: Path, at: int, cut: int, insert: str) -> None:
    text = example.read_text()
    at %= len(text)
    try:
        load_all(text[:at] + insert + text[at + cut:])
    except yaml.YAMLError:
        pass


@FUZZ
@given(depth=st.integers(1, 3000), flow=st.booleans())
def test_nesting_is_refused_past_the_limit_and_only_there(depth: int, flow: bool) -> None:
    if flow:
        text = "[" * depth + "]" * depth
    else:
        text = "".join("  " * i + "-\n" for i in range(depth))
    try:
        (document,) = load_all(text)
    except yaml.YAMLError as err:
        assert depth > MAX_DEPTH - 1, err
        assert "exceeded max depth of 100" in str(err) or "exceeded maximum nesting depth" in str(err)
        return
    assert depth <= MAX_DEPTH and not depth_exceeds(document)


@FUZZ
@given(fan_out=st.integers(1, 12), levels=st.integers(1, 12))
def test_alias_expansion_is_bounded(fan_out: int, levels: int) -> None:
    """"Billion laughs" of any shape: either small enough to expand, or refused."""
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * fan_out) + "]")
    try:
        load_all("\n".join(lines))
    except yaml.YAMLError as err:
        assert "document contains excessive aliasing" in str(err) or "exceeded max depth" in str(err)
        return
    assert fan_out ** levels <= 4_000_000


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000])
def test_deep_json_is_refused(text: str) -> None:
    with pytest.raises(DepthError, match="exceeded max depth of 100"):
        load_json(text)
