"""kubectl's JSONPath templates: ``-o jsonpath=...``, custom columns and ``--sort-by``.

kubectl's dialect (client-go's ``util/jsonpath``) is a template language, not plain
JSONPath: text outside braces is printed as it is, and each ``{...}`` action is a path
evaluated against the object's Kubernetes JSON form::

    {.metadata.name}                          one field
    {.items[*].metadata.name}                 every item's name, separated by spaces
    {range .items[*]}{.metadata.name}{"\\n"}{end}   one line per item
    {.items[?(@.status.phase=="Running")].metadata.name}   a filter
    {.items[0:2]} {.items[-1]} {..image} {.spec['replicas']} {@}

Plain JSONPath libraries (jsonpath-ng and friends) know neither the template nor
``{range}``/``{end}``, nor kubectl's way of printing (a list of results joined by spaces,
maps and lists as compact JSON), so the small grammar is parsed here: ``parse`` turns a
template into a tree once (errors are kubectl's "error parsing jsonpath" lines, found
before any request), ``Template.render`` evaluates it against plain dicts and lists.

A missing key gives no value rather than an error, as kubectl's default
``--allow-missing-template-keys=true`` does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Union


class JsonPathError(ValueError):
    """A template that cannot be parsed, or one that fails on the data it is given."""


# ------------------------------------------------------------------ the tree


@dataclass(frozen=True)
class Text:
    """Literal text: outside braces, or a quoted string inside them (``{"\\n"}``)."""

    text: str


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Index:
    """``[2]``, ``[-1]``, ``[1:3]``, ``[::2]``, ``[*]``: a slice whose unset bounds are None.

    ``single`` marks ``[i]``: its stop is i+1 once a negative i is counted from the end.
    """

    start: int | None
    stop: int | None
    step: int | None
    single: bool = False


@dataclass(frozen=True)
class Wildcard:
    """``.*``: every value of a map or element of a list."""


@dataclass(frozen=True)
class Recursive:
    """``..``: the value and everything under it."""


@dataclass(frozen=True)
class Literal:
    """A number or boolean inside a filter: ``[?(@.port==80)]``."""

    value: int | float | bool


@dataclass(frozen=True)
class Filter:
    """``[?(@.x=="y")]``; operator "exists" for ``[?(@.x)]`` (right is then empty)."""

    left: tuple[Node, ...]
    operator: str
    right: tuple[Node, ...]


@dataclass(frozen=True)
class Branches:
    """``[0,2]`` or ``['a','b']``: the results of each branch, one after the other."""

    branches: tuple[tuple[Node, ...], ...]


@dataclass(frozen=True)
class Keyword:
    """``range`` or ``end``: the template's loop."""

    name: str


Node = Union[Text, Field, Index, Wildcard, Recursive, Literal, Filter, Branches, Keyword]


@dataclass(frozen=True)
class Action:
    """One ``{...}``: a chain of steps applied in turn, starting from the current object."""

    steps: tuple[Node, ...]


@dataclass
class Range:
    """``{range PATH}BODY{end}``: BODY once per result of PATH, with that result as ``@``."""

    path: Action
    body: list[Segment] = field(default_factory=list)


Segment = Union[Text, Action, Range]

# ----------------------------------------------------------------- parsing

_TERMINATORS = frozenset(" \t\r\n.,[]$@{}")
_SLICE = re.compile(r"^(-?\d*)(:-?\d*)?(:-?\d*)?$")
_DICT_KEY = re.compile(r"^'([^']*)'$")
_COMPARISON = re.compile(r"^([^!<>=]+)([!<>=]+)(.+?)$")
_OPERATORS = frozenset({"==", "!=", "<", ">", "<=", ">="})


class _Parser:
    """A recursive-descent reader of one action's text (what is between the braces)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self, count: int = 1) -> str:
        return self.text[self.pos:self.pos + count]

    def steps(self, closing: str | None) -> list[Node]:
        """Steps up to ``closing`` (``}``), or to the end of the text when None."""
        steps: list[Node] = []
        while True:
            if self.pos >= len(self.text) or self.peek() in "\r\n":
                if closing is None and self.pos >= len(self.text):
                    return steps
                raise JsonPathError("unclosed action")
            if closing and self.peek() == closing:
                self.pos += 1
                return steps
            if self.peek(3) == "[?(":
                steps.append(self._filter())
            elif self.peek(2) == "..":
                if steps and isinstance(steps[-1], Recursive):
                    raise JsonPathError("invalid multiple recursive descent")
                self.pos += 2
                steps.append(Recursive())
                if self.peek().isalnum() or self.peek() == "_":
                    steps.append(self._field())
            else:
                char = self.peek()
                if char in " @$":
                    self.pos += 1
                elif char == "[":
                    steps.extend(self._bracket())
                elif char in "\"'":
                    steps.append(Text(self._quoted(char)))
                elif char == ".":
                    self.pos += 1
                    steps.append(self._field())
                elif char in "+-" or char.isdigit():
                    steps.append(self._number())
                elif char.isalnum() or char == "_":
                    steps.append(self._keyword())
                else:
                    raise JsonPathError(f"unrecognized character in action: {_rune(char)}")

    def _field(self) -> Node:
        start = self.pos
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                self.pos += 2
                continue
            if char in _TERMINATORS:
                break
            self.pos += 1
        name = self.text[start:self.pos]
        return Wildcard() if name == "*" else Field(name.replace("\\", ""))

    def _keyword(self) -> Node:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _TERMINATORS:
            self.pos += 1
        word = self.text[start:self.pos]
        if word in ("true", "false"):
            return Literal(word == "true")
        if word not in ("range", "end"):
            raise JsonPathError(f"unrecognized identifier {word}")
        return Keyword(word)

    def _number(self) -> Node:
        start = self.pos
        if self.peek() in "+-":
            self.pos += 1
        while self.pos < len(self.text) and (self.text[self.pos].isdigit() or self.text[self.pos] == "."):
            self.pos += 1
        text = self.text[start:self.pos]
        try:
            return Literal(int(text))
        except ValueError:
            try:
                return Literal(float(text))
            except ValueError:
                raise JsonPathError(f"cannot parse number {text}") from None

    def _quoted(self, quote: str) -> str:
        start = self.pos
        self.pos += 1
        while True:
            if self.pos >= len(self.text) or self.text[self.pos] == "\n":
                raise JsonPathError("unterminated quoted string")
            if self.text[self.pos] == quote and self.text[self.pos - 1] != "\\":
                break
            self.pos += 1
        self.pos += 1
        return _unquote(self.text[start:self.pos])

    def _bracket(self) -> list[Node]:
        end = self.text.find("]", self.pos)
        newline = self.text.find("\n", self.pos)
        if end < 0 or 0 <= newline < end:
            raise JsonPathError("unterminated array")
        inner = self.text[self.pos + 1:end]
        self.pos = end + 1
        return _bracket_steps("0:" if inner == "*" else inner)

    def _filter(self) -> Node:
        self.pos += 3
        start = self.pos
        quote = ""
        while True:
            if self.pos >= len(self.text) or self.text[self.pos] == "\n":
                raise JsonPathError("unterminated filter")
            char = self.text[self.pos]
            self.pos += 1
            if char in "\"'" and (not quote or (char == quote and self.text[self.pos - 2] != "\\")):
                quote = "" if quote else char
            elif char == ")" and not quote:
                break
        if self.peek() != "]":
            raise JsonPathError("unclosed array expect ]")
        self.pos += 1
        expression = self.text[start:self.pos - 2]
        match = _COMPARISON.match(expression)
        if match is None:
            return Filter(tuple(_parse_steps(expression)), "exists", ())
        left, operator, right = match.groups()
        if operator not in _OPERATORS:
            raise JsonPathError(f"unrecognized filter operator {operator}")
        return Filter(tuple(_parse_steps(left)), operator, tuple(_parse_steps(right)))


def _parse_steps(text: str) -> list[Node]:
    return _Parser(text).steps(closing=None)


def _bracket_steps(inner: str) -> list[Node]:
    """What ``[inner]`` means: a union, a quoted key, or an index/slice."""
    if "," in inner:
        return [Branches(tuple(tuple(_bracket_steps(part.strip())) for part in inner.split(",")))]
    key = _DICT_KEY.match(inner)
    if key:
        return [Field(name) for name in key.group(1).split(".")] if key.group(1) else [Field("")]
    match = _SLICE.match(inner)
    if match is None:
        raise JsonPathError(f"invalid array index {inner}")
    start_text, stop_text, step_text = match.groups()
    start = int(start_text) if start_text not in ("", "-") else None
    if start_text == "-":
        raise JsonPathError(f"array index {start_text} is not a number")
    if stop_text is None:  # [i]
        if start is None:
            raise JsonPathError(f"invalid array index {inner}")
        return [Index(start, None, None, single=True)]
    stop = int(stop_text[1:]) if stop_text[1:] else None
    step = int(step_text[1:]) if step_text and step_text[1:] else None
    return [Index(start, stop, step)]


def _unquote(quoted: str) -> str:
    """A quoted string with Go's escapes: ``"\\n"`` is a newline, ``'\\t'`` a tab."""
    body = quoted[1:-1]
    if "\\" not in body:
        return body
    try:
        return body.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError as err:
        raise JsonPathError(f"unquote string {quoted} error {err}") from None


def _rune(char: str) -> str:
    """How Go's %#U shows a character: ``U+0021 '!'``."""
    return f"U+{ord(char):04X} '{char}'"


def _split_template(text: str) -> list[Segment]:
    """Text and actions, in order; each action parsed into its steps."""
    segments: list[Segment] = []
    pos = 0
    while pos < len(text):
        brace = text.find("{", pos)
        if brace < 0:
            segments.append(Text(text[pos:]))
            break
        if brace > pos:
            segments.append(Text(text[pos:brace]))
        parser = _Parser(text)
        parser.pos = brace + 1
        segments.append(Action(tuple(parser.steps(closing="}"))))
        pos = parser.pos
    return segments


def _nest(segments: list[Segment]) -> list[Segment]:
    """Group ``{range ...}`` ... ``{end}`` into Range segments."""
    root: list[Segment] = []
    stack: list[list[Segment]] = [root]
    for segment in segments:
        steps = segment.steps if isinstance(segment, Action) else ()
        if steps and steps[0] == Keyword("range"):
            loop = Range(Action(steps[1:]))
            stack[-1].append(loop)
            stack.append(loop.body)
        elif steps and steps[0] == Keyword("end"):
            if len(stack) == 1:
                raise JsonPathError("not in range, nothing to end")
            stack.pop()
        elif any(isinstance(step, Keyword) for step in steps):
            raise JsonPathError("range and end must start an action")
        else:
            stack[-1].append(segment)
    return root


@dataclass(frozen=True)
class Template:
    source: str
    segments: tuple[Segment, ...]

    def render(self, data: Any) -> str:
        """The template's output for one object (no newline is added)."""
        try:
            return "".join(_render(self.segments, data))
        except JsonPathError as err:
            raise JsonPathError(f'error executing jsonpath "{self.source}": Error executing template: {err}') from None

    def values(self, data: Any) -> list[Any]:
        """The values a single-action template finds (custom columns and --sort-by use them)."""
        found: list[Any] = []
        for segment in self.segments:
            if isinstance(segment, Action):
                found.extend(evaluate(segment.steps, data))
        return found


def parse(template: str) -> Template:
    """Parse a template; a malformed one raises kubectl's ``error parsing jsonpath`` line."""
    try:
        return Template(template, tuple(_nest(_split_template(template))))
    except JsonPathError as err:
        raise JsonPathError(f"error parsing jsonpath {template}, {err}") from None


_RELAXED = re.compile(r"^\{\.?([^{}]+)\}$|^\.?([^{}]+)$")


def relaxed(expression: str) -> str:
    """kubectl's RelaxedJSONPathExpression: ``metadata.name``, ``.metadata.name`` or
    ``{metadata.name}`` all become ``{.metadata.name}`` (custom columns, --sort-by)."""
    match = _RELAXED.match(expression)
    if match is None:
        raise JsonPathError("unexpected path string, expected a 'name1.name2' or '.name1.name2' or "
                            "'{name1.name2}' or '{.name1.name2}'")
    body = match.group(1) or match.group(2)
    return "{." + body.lstrip(".") + "}" if not body.startswith("[") else "{" + body + "}"


# --------------------------------------------------------------- evaluation


def _render(segments: tuple[Segment, ...] | list[Segment], data: Any) -> list[str]:
    out: list[str] = []
    for segment in segments:
        if isinstance(segment, Text):
            out.append(segment.text)
        elif isinstance(segment, Action):
            out.append(" ".join(to_text(value) for value in evaluate(segment.steps, data)))
        else:
            for item in evaluate(segment.path.steps, data):
                out.extend(_render(segment.body, item))
    return out


def to_text(value: Any) -> str:
    """A value as kubectl prints it: strings bare, maps and lists as compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, (dict, list)) or value is None:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return str(value)


def evaluate(steps: tuple[Node, ...], data: Any) -> list[Any]:
    """Apply each step to every current value: the values the path finds in ``data``."""
    current = [data]
    for step in steps:
        current = _step(step, current)
    return current


def _step(step: Node, values: list[Any]) -> list[Any]:
    if isinstance(step, Text):
        return [step.text]
    if isinstance(step, Literal):
        return [step.value for _ in values]
    if isinstance(step, Field):
        return [value[step.name] for value in values if isinstance(value, dict) and step.name in value]
    if isinstance(step, Wildcard):
        return [item for value in values for item in _children(value)]
    if isinstance(step, Recursive):
        return [item for value in values for item in _descendants(value)]
    if isinstance(step, Index):
        return [item for value in values if value is not None for item in _slice(value, step)]
    if isinstance(step, Branches):
        return [item for branch in step.branches for item in _each(branch, values)]
    if isinstance(step, Filter):
        return [item for value in values if value is not None for item in _filter(value, step)]
    raise JsonPathError(f"unexpected {step}")


def _each(steps: tuple[Node, ...], values: list[Any]) -> list[Any]:
    found: list[Any] = []
    for value in values:
        found.extend(evaluate(steps, value))
    return found


def _children(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return list(value)
    return []


def _descendants(value: Any) -> list[Any]:
    children = _children(value)
    if not children:
        return []
    found = [value]
    for child in children:
        found.extend(_descendants(child))
    return found


def _slice(value: Any, index: Index) -> list[Any]:
    if not isinstance(value, list):
        raise JsonPathError(f"{_go_type(value)} is not array or slice")
    length = len(value)
    start = index.start or 0
    if start < 0:
        start += length
    if index.single:
        stop = start + 1
    else:
        stop = length if index.stop is None else index.stop
        if stop < 0:
            stop += length
    if stop != start:
        if start >= length or start < 0:
            raise JsonPathError(f"array index out of bounds: index {start}, length {length}")
        if stop > length:
            raise JsonPathError(f"array index out of bounds: index {stop - 1}, length {length}")
    return value[start:stop:index.step or 1]


def _filter(value: Any, node: Filter) -> list[Any]:
    if not isinstance(value, list):
        raise JsonPathError(f"{to_text(value)} is not array or slice and cannot be filtered")
    kept = []
    for item in value:
        lefts = evaluate(node.left, item)
        if node.operator == "exists":
            if lefts:
                kept.append(item)
            continue
        rights = evaluate(node.right, item)
        if not lefts:
            continue  # the field is missing here: this item does not match
        if len(lefts) != 1 or len(rights) != 1:
            raise JsonPathError("can only compare one element at a time")
        if _compare(lefts[0], node.operator, rights[0]):
            kept.append(item)
    return kept


def _compare(left: Any, operator: str, right: Any) -> bool:
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right))
    if not numbers and type(left) is not type(right):
        raise JsonPathError("incompatible types for comparison")
    if isinstance(left, (bool, dict, list)) and operator not in ("==", "!="):
        raise JsonPathError("invalid type for comparison")
    return {
        "==": lambda: left == right, "!=": lambda: left != right,
        "<": lambda: left < right, ">": lambda: left > right,
        "<=": lambda: left <= right, ">=": lambda: left >= right,
    }[operator]()


def _go_type(value: Any) -> str:
    """The type name Go's jsonpath would print for a decoded JSON value."""
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "float64" if isinstance(value, float) else "int64"
    return "interface {}"
