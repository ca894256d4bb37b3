"""Names checked as Kubernetes checks them (k8s.io/apimachinery/pkg/util/validation and
pkg/api/validation/path), shared by the apiserver (object names, request names) and the
kubelet (the names a log, exec or port-forward request carries).

Each check returns Kubernetes' messages (empty: valid), for callers to wrap in their own
error form: a field error (``metadata.name: Invalid value: "a/b": a lowercase RFC 1123
subdomain must ...``) or a bad request (``Name parameter invalid: "..": may not be '..'``).
A name that passes cannot climb out of a path (no ``/``, no ``..``) and holds no control or
non-ASCII characters.
"""

from __future__ import annotations

import re

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

DNS1123_LABEL_RULE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)

# Names a path segment may not be, or contain (path.IsValidPathSegmentName).
NAME_MAY_NOT_BE = (".", "..")
NAME_MAY_NOT_CONTAIN = ("/", "%")


def is_dns1123_label(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_LABEL_MAX:
        errs.append(f"must be no more than {DNS1123_LABEL_MAX} characters")
    if not _DNS1123_LABEL.fullmatch(value):
        errs.append(DNS1123_LABEL_RULE)
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(f"must be no more than {DNS1123_SUBDOMAIN_MAX} characters")
    if not _DNS1123_SUBDOMAIN.fullmatch(value):
        errs.append(DNS1123_SUBDOMAIN_RULE)
    return errs


def is_valid_path_segment_name(name: str) -> list[str]:
    """Kubernetes' path.IsValidPathSegmentName: what a name in a request path may not be."""
    if name in NAME_MAY_NOT_BE:
        return [f"may not be '{name}'"]
    return [f"may not contain '{part}'" for part in NAME_MAY_NOT_CONTAIN if part in name]


# How much of a name a message quotes.
MAX_QUOTED_CHARS = 256
_GO_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\a": "\\a", "\b": "\\b",
               "\f": "\\f", "\v": "\\v"}


def go_quote(text: str, limit: int = MAX_QUOTED_CHARS) -> str:
    """``"name"`` as Go's %q writes it in Kubernetes' messages: printable characters (unicode
    too) as they are, control characters escaped, so a message stays one line. Cut after
    ``limit`` characters (a message travels in gRPC trailers, a few KiB at most)."""
    cut = len(text) > limit
    out = []
    for ch in text[:limit]:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + ('..."' if cut else '"')
