"""Field validation helpers, producing Kubernetes' field-error phrasing:

    metadata.name: Invalid value: "Web_1": a lowercase RFC 1123 subdomain must ...
    spec.containers: Required value
    spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", ...
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from apimachinery.names import (DNS1123_LABEL_MAX, DNS1123_LABEL_RULE, DNS1123_SUBDOMAIN_MAX,  # noqa: F401
                                DNS1123_SUBDOMAIN_RULE, go_quote, is_dns1123_label, is_dns1123_subdomain)
from apimachinery.quantity import QuantityError, parse_quantity

_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*\Z")

QUALIFIED_NAME_RULE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)


# How much of a bad string value a field error quotes: a name of 5 MB is not echoed whole
# (an error travels in gRPC trailers, a few KiB at most).
MAX_QUOTED_CHARS = 256


def _quote(value: Any) -> str:
    if isinstance(value, str):
        return go_quote(value, MAX_QUOTED_CHARS)
    return str(value)


@dataclass(frozen=True)
class FieldError:
    path: str
    # "Invalid value", "Required value", "Unsupported value", "Duplicate value", "Forbidden", "Too many"
    kind: str
    value: Any = None
    detail: str = ""

    def __str__(self) -> str:
        if self.kind in ("Required value", "Forbidden", "Too long"):  # Kubernetes omits the value
            return f"{self.path}: {self.kind}" + (f": {self.detail}" if self.detail else "")
        text = f"{self.path}: {self.kind}: {_quote(self.value)}"
        return text + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class GoLiteral:
    """A value Kubernetes prints with Go's %#v (a slice, a struct): shown as written, unquoted."""

    text: str

    def __str__(self) -> str:
        return self.text


def go_strings(values: Iterable[str]) -> GoLiteral:
    """``[]string{"10.96.0.5"}``, as Go's %#v prints a string slice."""
    return GoLiteral("[]string{" + ", ".join(json.dumps(value) for value in values) + "}")


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, "Required value", detail=detail)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, "Invalid value", value, detail)


def unsupported(path: str, value: Any, supported: Iterable[str]) -> FieldError:
    listed = ", ".join(json.dumps(s) for s in supported)
    return FieldError(path, "Unsupported value", value, f"supported values: {listed}")


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, "Forbidden", detail=detail)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(path, "Duplicate value", value)


def too_many(path: str, count: int, limit: int) -> FieldError:
    return FieldError(path, "Too many", count, f"must have at most {limit} items")


def too_long(path: str, limit: int) -> FieldError:
    """``data: Too long: must have at most 1048576 bytes`` (field.TooLong: the value not shown)."""
    return FieldError(path, "Too long", "", f"must have at most {limit} bytes")


def immutable(path: str, value: Any) -> FieldError:
    return invalid(path, value, "field is immutable")


def dns1123_label(path: str, value: str) -> list[FieldError]:
    return [invalid(path, value, detail) for detail in is_dns1123_label(value)]


def dns1123_subdomain(path: str, value: str) -> list[FieldError]:
    return [invalid(path, value, detail) for detail in is_dns1123_subdomain(value)]


def qualified_name(path: str, key: str) -> list[FieldError]:
    """A label or annotation key: optional DNS subdomain prefix, "/", a name <= 63 chars."""
    prefix, _, name = key.rpartition("/")
    errs = []
    if prefix:
        errs += [invalid(path, key, "prefix part " + e.detail) for e in dns1123_subdomain(path, prefix)]
    if not name:
        errs.append(invalid(path, key, "name part must be non-empty"))
    elif len(name) > 63:
        errs.append(invalid(path, key, "name part must be no more than 63 characters"))
    elif not _QUALIFIED_NAME.match(name):
        errs.append(invalid(path, key, QUALIFIED_NAME_RULE))
    return errs


def labels(path: str, values: Mapping[str, str]) -> list[FieldError]:
    errs: list[FieldError] = []
    for key, value in values.items():
        errs += qualified_name(path, key)
        if len(value) > 63:
            errs.append(invalid(f"{path}", value, "must be no more than 63 characters"))
        elif not _LABEL_VALUE.match(value):
            errs.append(invalid(f"{path}", value, LABEL_VALUE_RULE))
    return errs


def env_var_name(path: str, name: str) -> list[FieldError]:
    if not name:
        return [required(path)]
    if not _ENV_NAME.match(name):
        return [invalid(path, name, "a valid environment variable name must consist of alphabetic "
                        "characters, digits, '_', '-', or '.', and must not start with a digit")]
    return []


def quantity(path: str, value: str) -> list[FieldError]:
    try:
        amount = parse_quantity(value)
    except QuantityError as err:
        return [invalid(path, value, str(err))]
    if amount < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []


def non_negative(path: str, value: int) -> list[FieldError]:
    return [invalid(path, value, "must be greater than or equal to 0")] if value < 0 else []


def port_number(path: str, value: int) -> list[FieldError]:
    if not 1 <= value <= 65535:
        return [invalid(path, value, "must be between 1 and 65535, inclusive")]
    return []


_PORT_NAME_CHARS = re.compile(r"^[-a-z0-9]+\Z")
_PORT_NAME_LETTER = re.compile(r"[a-z]")


def port_name(path: str, name: str) -> list[FieldError]:
    """A named port (IANA_SVC_NAME): what a Service's targetPort may name (IsValidPortName)."""
    problems = []
    if len(name) > 15:
        problems.append("must be no more than 15 characters")
    if not _PORT_NAME_CHARS.match(name):
        problems.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not _PORT_NAME_LETTER.search(name):
        problems.append("must contain at least one letter (a-z)")
    if "--" in name:
        problems.append("must not contain consecutive hyphens")
    if name.startswith("-") or name.endswith("-"):
        problems.append("must not begin or end with a hyphen")
    return [invalid(path, name, problem) for problem in problems]
