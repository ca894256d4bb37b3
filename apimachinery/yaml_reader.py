"""YAML (and JSON) documents read with limits, as Kubernetes' reader (sigs.k8s.io/yaml over
go-yaml) reads them: hostile input is refused at once with a clear message instead of
exhausting the stack, the CPU or the memory.

* **Depth.** A document nested deeper than MAX_DEPTH (a list inside a list ... 100 000 times)
  is refused with go-yaml's words, ``exceeded max depth of 100``. PyYAML composes nodes
  recursively, so without a limit Python's stack runs out (RecursionError). Real objects are
  a dozen levels deep; anything past the schema's depth is an unknown field anyway.
* **Aliases.** An anchor can be used many times, and each use may itself use anchors: nine
  levels of nine aliases ("billion laughs") stand for 10⁹ nodes in a few hundred bytes. PyYAML
  shares the aliased node, but everything after it (turning dates into strings, converting to
  protobuf) walks the expansion. go-yaml counts the nodes it decodes and those decoded through
  aliases and refuses ``document contains excessive aliasing`` when the aliased share passes
  a ratio that shrinks as the document grows (99% up to 400 000 nodes, 10% from 4 000 000);
  this loader keeps the same counts while composing, so a bomb is refused after a few hundred
  events. An anchor used inside its own value (a cycle) is refused too
  (``anchor 'a' value contains itself``).

Both limits count the document as it would be expanded: an alias adds the node count and the
height of what it names.
"""

from __future__ import annotations

import json
from typing import Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import Node
from yaml.resolver import Resolver

MAX_DEPTH = 100
# go-yaml's alias ratio range (decode.go: alias_ratio_range_low/high).
ALIAS_RATIO_RANGE_LOW = 400_000
ALIAS_RATIO_RANGE_HIGH = 4_000_000
EXCESSIVE_ALIASING = "document contains excessive aliasing"


def max_depth_message(limit: int = MAX_DEPTH) -> str:
    return f"exceeded max depth of {limit}"


def allowed_alias_ratio(decoded: int) -> float:
    """The share of decoded nodes that may come from aliases (go-yaml's allowedAliasRatio)."""
    if decoded <= ALIAS_RATIO_RANGE_LOW:
        return 0.99
    if decoded >= ALIAS_RATIO_RANGE_HIGH:
        return 0.10
    span = ALIAS_RATIO_RANGE_HIGH - ALIAS_RATIO_RANGE_LOW
    return 0.99 - 0.89 * ((decoded - ALIAS_RATIO_RANGE_LOW) / span)


def excessive_aliasing(decoded: int, aliased: int) -> bool:
    """go-yaml's test, made after every node: small documents may alias freely."""
    return aliased > 100 and decoded > 1000 and aliased / decoded > allowed_alias_ratio(decoded)


class _Limits(Composer):
    """PyYAML's Composer, counting as it composes; refuses too deep nesting and excessive aliasing."""

    max_depth = MAX_DEPTH

    def _reset_counts(self) -> None:
        self._depth = 0  # of the node being composed
        self._peak = 0  # the deepest level reached below it, aliases expanded
        self._decoded = 0  # nodes, aliases expanded
        self._aliased = 0  # nodes decoded through an alias
        self._sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded node count, height)

    def compose_document(self) -> Node | None:
        self._reset_counts()  # go-yaml counts per document (a --- stream is many)
        try:
            return super().compose_document()
        finally:
            self._sizes = {}

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            self._count_alias(self.peek_event())
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > self.max_depth:
            raise ComposerError(None, None, max_depth_message(self.max_depth), self.peek_event().start_mark)
        start, outer_peak = self._decoded, self._peak
        self._decoded += 1
        self._peak = self._depth
        node = super().compose_node(parent, index)
        self._sizes[id(node)] = (self._decoded - start, self._peak - self._depth + 1)
        self._peak = max(outer_peak, self._peak)
        self._depth -= 1
        return node

    def _count_alias(self, event: AliasEvent) -> None:
        node = self.anchors.get(event.anchor)
        if node is None:
            return  # undefined: the composer says so
        size = self._sizes.get(id(node))
        if size is None:  # still being composed: the alias is inside its own anchor's value
            raise ComposerError(None, None, f"anchor '{event.anchor}' value contains itself", event.start_mark)
        count, height = size
        if self._depth + height > self.max_depth:
            raise ComposerError(None, None, max_depth_message(self.max_depth), event.start_mark)
        self._peak = max(self._peak, self._depth + height)
        self._decoded += count
        self._aliased += count
        if excessive_aliasing(self._decoded, self._aliased):
            raise ComposerError(None, None, EXCESSIVE_ALIASING, event.start_mark)


class LimitedSafeLoader(_Limits, yaml.SafeLoader):
    """yaml.SafeLoader with the limits (pure Python)."""


try:
    from yaml.cyaml import CParser as _CParser
except ImportError:  # PyYAML built without libyaml
    _CParser = None
if _CParser is not None:
    class LimitedCSafeLoader(_Limits, _CParser, SafeConstructor, Resolver):  # type: ignore[misc, valid-type]
        """libyaml's parser (events, iteratively in C: ten times faster than PyYAML's own)
        under the counting Composer, then the safe constructor."""

        def __init__(self, stream: Any) -> None:
            _CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
    FASTEST: type = LimitedCSafeLoader
else:
    FASTEST = LimitedSafeLoader


def load_all(text: str, loader_class: type | None = None) -> list[Any]:
    """Every document of a YAML stream (None for an empty one), within the limits above.

    Raises yaml.YAMLError (a MarkedYAMLError with the place for the limits)."""
    loader = (loader_class or FASTEST)(text)
    try:
        documents = []
        while loader.check_data():
            documents.append(loader.get_data())
        return documents
    finally:
        loader.dispose()


class DepthError(ValueError):
    """A JSON document nested deeper than MAX_DEPTH."""


def depth_exceeds(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Is any value nested more than ``limit`` levels deep? (Iterative: no stack to exhaust.)"""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def load_json(text: str, limit: int = MAX_DEPTH) -> Any:
    """A JSON document within the depth limit; json.JSONDecodeError or DepthError otherwise."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise DepthError(max_depth_message(limit)) from None
    if depth_exceeds(value, limit):
        raise DepthError(max_depth_message(limit))
    return value
