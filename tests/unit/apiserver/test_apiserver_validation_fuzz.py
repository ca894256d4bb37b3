"""The validation helpers and every kind's strategy under hypothesis: any text, any object gives a
list of field errors (never an exception), each one line and short; and a name that passes the
DNS-1123 checks cannot climb out of a path or carry anything but lowercase ASCII."""

from __future__ import annotations

from typing import Any

from fuzz_testlib import FUZZ, ODD_STRINGS, mutated_manifests
from hypothesis import given
from hypothesis import strategies as st

from apimachinery.convert import ConversionError, from_dict
from apimachinery.kinds import info_of
from apimachinery.names import go_quote, is_dns1123_label, is_dns1123_subdomain, is_valid_path_segment_name
from apiserver.registry import validation as v
from apiserver.registry.network import ServiceRanges
from apiserver.registry.registry import Registry
from apiserver.storage.memory import MemoryStore
from apiserver.watchcache import WatchCache

texts = st.one_of(st.text(max_size=300), st.sampled_from(ODD_STRINGS),
                  st.from_regex(r"[a-z0-9.\-/]{0,70}", fullmatch=True))
HELPERS = [v.dns1123_label, v.dns1123_subdomain, v.qualified_name, v.env_var_name, v.quantity, v.port_name]
STRATEGIES = Registry(MemoryStore(), WatchCache(), service_ranges=ServiceRanges()).strategies


def one_line(errs: list[Any]) -> None:
    for err in errs:
        text = str(err)
        assert "\n" not in text and "\x00" not in text and len(text) < 1200, text


@FUZZ
@given(text=texts)
def test_helpers_answer_any_text_with_field_errors(text: str) -> None:
    for helper in HELPERS:
        one_line(helper("spec.x", text))
    one_line(v.labels("metadata.labels", {text: text}))


@FUZZ
@given(text=texts)
def test_a_valid_name_stays_in_its_place(text: str) -> None:
    for errors_of in (is_dns1123_subdomain, is_dns1123_label):
        if errors_of(text):
            continue  # invalid: refused with the rule's words
        assert text and text.isascii() and text.isprintable() and text == text.lower() and " " not in text
        assert not is_valid_path_segment_name(text)  # no "/", "%", and not "." or ".."
        assert ".." not in text and not text.startswith(".")


@FUZZ
@given(text=st.text(max_size=400))
def test_go_quote_is_one_printable_line(text: str) -> None:
    quoted = go_quote(text)
    assert quoted.startswith('"') and quoted.endswith('"') and "\n" not in quoted
    assert all(ch.isprintable() for ch in quoted) and len(quoted) <= 256 * 10 + 5


@FUZZ
@given(manifest=mutated_manifests())
def test_every_strategy_validates_any_object_without_raising(manifest: dict[str, Any]) -> None:
    try:
        obj = from_dict(manifest)
    except ConversionError:
        return
    strategy = STRATEGIES[info_of(obj).kind]
    strategy.default(obj)
    one_line(strategy.validate_metadata(obj.metadata) + strategy.validate(obj))  # type: ignore[attr-defined]
    one_line(strategy.validate_update(obj, obj))
