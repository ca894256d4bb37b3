"""describe namespace, and kubectl's generic describer for the other kinds (a Lease, an Event)."""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from google.protobuf.message import Message

from apimachinery.convert import to_dict
from kubectl.context import Context
from kubectl.describe_text import PrefixWriter
from kubectl.verbs.describe.common import (
    LEVEL_0,
    annotations_multiline,
    describe_events,
    go_bool,
    labels_multiline,
)
from protos import core_pb2


# --------------------------------------------------------- other kinds


def describe_namespace(ctx: Context, namespace: core_pb2.Namespace, events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    w.write(LEVEL_0, f"Name:\t{namespace.metadata.name}\n")
    labels_multiline(w, "Labels", namespace.metadata.labels)
    annotations_multiline(w, "Annotations", namespace.metadata.annotations)
    w.write(LEVEL_0, f"Status:\t{namespace.status.phase}\n")
    w.write(LEVEL_0, "\nNo resource quota.\n")
    w.write(LEVEL_0, "\nNo LimitRange resource.\n")
    return w.text()


_ACRONYMS = {"api": "API", "id": "ID", "ip": "IP", "ips": "IPs", "uid": "UID", "url": "URL", "cidr": "CIDR",
             "uuid": "UUID", "tls": "TLS", "dns": "DNS", "http": "HTTP", "tcp": "TCP"}


def smart_label(field: str) -> str:
    """``holderIdentity`` → ``Holder Identity``, ``podIP`` → ``Pod IP`` (kubectl's smartLabelFor)."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", field) or [field]
    return " ".join(_ACRONYMS.get(word.lower(), word[:1].upper() + word[1:]) for word in words)


_GENERIC_SKIP = (".metadata.name", ".metadata.namespace", ".metadata.labels", ".metadata.annotations")


def _unstructured(w: PrefixWriter, level: int, content: Mapping[str, Any], prefix: str) -> None:
    for field in sorted(content):
        value = content[field]
        path = f"{prefix}.{field}"
        if path in _GENERIC_SKIP:
            continue
        if isinstance(value, dict):
            w.write(level, f"{smart_label(field)}:\n")
            _unstructured(w, level + 1, value, path)
        elif isinstance(value, list):
            w.write(level, f"{smart_label(field)}:\n")
            for child in value:
                if isinstance(child, dict):
                    _unstructured(w, level + 1, child, path)
                else:
                    w.write(level + 1, f"{child}\n")
        else:
            if isinstance(value, bool):
                value = go_bool(value)
            w.write(level, f"{smart_label(field)}:\t{value}\n")


def describe_generic(ctx: Context, obj: Message, events: Sequence[core_pb2.Event] | None) -> str:
    """kubectl's generic describer: the fields of the object, nested, with readable labels."""
    w = PrefixWriter()
    meta = obj.metadata  # type: ignore[attr-defined]
    w.write(LEVEL_0, f"Name:\t{meta.name}\n")
    w.write(LEVEL_0, f"Namespace:\t{meta.namespace}\n")
    labels_multiline(w, "Labels", meta.labels)
    annotations_multiline(w, "Annotations", meta.annotations)
    _unstructured(w, LEVEL_0, to_dict(obj), "")
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()

