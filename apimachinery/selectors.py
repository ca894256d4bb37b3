"""Label and field selectors, as Kubernetes parses and matches them.

Label selector syntax (``-l``): ``app=web``, ``tier!=db``, ``env in (prod,qa)``,
``env notin (dev)``, ``canary``, ``!legacy``; requirements are ANDed by commas.
Field selector syntax (``--field-selector``): ``spec.nodeName=n1,status.phase!=Failed``
over a small set of fields per kind, as the real API supports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from google.protobuf.message import Message

from protos import meta_pb2


class SelectorError(ValueError):
    pass


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        match self.operator:
            case "=" | "in":
                return present and labels[self.key] in self.values
            case "!=" | "notin":
                return not present or labels[self.key] not in self.values
            case "exists":
                return present
            case "!":
                return not present
        raise SelectorError(f"unknown operator {self.operator}")


_SET_EXPR = re.compile(r"^\s*(!?)\s*([A-Za-z0-9._/-]+)\s*(?:(notin|in)\s*\((.*)\))?\s*$")
_EQ_EXPR = re.compile(r"^\s*([A-Za-z0-9._/-]+)\s*(==|=|!=)\s*([A-Za-z0-9._-]*)\s*$")


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, text: str) -> "LabelSelector":
        if not text or not text.strip():
            return cls()
        reqs = []
        for part in _split_top_level(text):
            eq = _EQ_EXPR.match(part)
            if eq:
                key, op, value = eq.groups()
                reqs.append(Requirement(key, "!=" if op == "!=" else "=", frozenset({value})))
                continue
            m = _SET_EXPR.match(part)
            if not m:
                raise SelectorError(f'unable to parse requirement: "{part.strip()}"')
            bang, key, op, values = m.groups()
            if op:
                if bang:
                    raise SelectorError(f'unable to parse requirement: "{part.strip()}"')
                items = frozenset(v.strip() for v in values.split(",") if v.strip())
                reqs.append(Requirement(key, op, items))
            else:
                reqs.append(Requirement(key, "!" if bang else "exists"))
        return cls(tuple(reqs))

    @classmethod
    def from_proto(cls, selector: meta_pb2.LabelSelector) -> "LabelSelector":
        """A Deployment/ReplicaSet selector (matchLabels + matchExpressions)."""
        reqs = [Requirement(k, "=", frozenset({v})) for k, v in sorted(selector.match_labels.items())]
        ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
        for expr in selector.match_expressions:
            if expr.operator not in ops:
                raise SelectorError(f'"{expr.operator}" is not a valid label selector operator')
            reqs.append(Requirement(expr.key, ops[expr.operator], frozenset(expr.values)))
        return cls(tuple(reqs))

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def __str__(self) -> str:
        out = []
        for r in self.requirements:
            if r.operator in ("=", "!="):
                out.append(f"{r.key}{r.operator}{next(iter(r.values))}")
            elif r.operator in ("in", "notin"):
                out.append(f"{r.key} {r.operator} ({','.join(sorted(r.values))})")
            else:
                out.append(r.key if r.operator == "exists" else f"!{r.key}")
        return ",".join(out)


# Fields each kind can be selected on (besides metadata.name and metadata.namespace).
FIELD_SELECTABLE: dict[str, frozenset[str]] = {
    "Pod": frozenset({"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "status.phase",
                      "status.podIP"}),
    "Node": frozenset({"spec.unschedulable"}),
    "Namespace": frozenset({"status.phase"}),
    "Event": frozenset({"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                        "involvedObject.uid", "involvedObject.fieldPath", "reason", "type",
                        "reportingComponent", "source"}),
    "Deployment": frozenset(),
    "ReplicaSet": frozenset({"status.replicas"}),
    "Lease": frozenset(),
    "Secret": frozenset({"type"}),  # Kubernetes' SelectableFields for Secrets
    "Job": frozenset({"status.successful"}),  # Kubernetes' name for status.succeeded
    "CronJob": frozenset(),
}
# Selectable fields whose label is not their JSON path.
_FIELD_ALIASES = {"status.successful": "status.succeeded"}
_ALWAYS_SELECTABLE = frozenset({"metadata.name", "metadata.namespace"})


_FIELD_NAMES: dict[str, dict[str, str]] = {}  # message type -> JSON name -> field name


def _field_names(message: Message) -> dict[str, str]:
    descriptor = message.DESCRIPTOR
    names = _FIELD_NAMES.get(descriptor.full_name)
    if names is None:
        names = _FIELD_NAMES[descriptor.full_name] = {f.json_name: f.name for f in descriptor.fields}
    return names


def field_value(obj: Message, path: str) -> str:
    """The string value of a dotted JSON path ("spec.nodeName") in a message."""
    current: object = obj
    for part in _FIELD_ALIASES.get(path, path).split("."):
        assert isinstance(current, Message)
        current = getattr(current, _field_names(current)[part])
    if isinstance(current, bool):
        return "true" if current else "false"
    if isinstance(current, Message):
        if current.DESCRIPTOR.name == "EventSource":  # Event "source" selects on component
            return getattr(current, "component")
        return ""
    return str(current)


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[tuple[str, bool, str], ...] = ()  # (path, equal?, value)

    def required_value(self, path: str) -> str | None:
        """The value path must equal for a match (a "path=value" term), if any."""
        for term_path, equal, value in self.terms:
            if equal and term_path == path:
                return value
        return None

    @classmethod
    def parse(cls, text: str, kind: str) -> "FieldSelector":
        if not text or not text.strip():
            return cls()
        allowed = _ALWAYS_SELECTABLE | FIELD_SELECTABLE.get(kind, frozenset())
        terms = []
        for part in text.split(","):
            m = re.match(r"^\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
            if not m:
                raise SelectorError(f'invalid field selector: "{part.strip()}"')
            path, op, value = m.groups()
            if path not in allowed:
                raise SelectorError(f'field label not supported: "{path}" (for {kind}: {", ".join(sorted(allowed))})')
            terms.append((path, op != "!=", value))
        return cls(tuple(terms))

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, obj: Message) -> bool:
        return all((field_value(obj, path) == value) == equal for path, equal, value in self.terms)
