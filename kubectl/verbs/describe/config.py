"""describe configmap and secret, as kubectl's ConfigMapDescriber and SecretDescriber write
them: a ConfigMap's data in full and its binaryData as sizes; a Secret's keys with their
sizes only (its values are never printed)."""

from __future__ import annotations

from typing import Any, Sequence

from kubectl.context import Context
from kubectl.describe_text import PrefixWriter
from kubectl.verbs.describe.common import LEVEL_0, annotations_multiline, describe_events, labels_multiline
from protos import core_pb2


def _head(w: PrefixWriter, obj: Any) -> None:
    w.write(LEVEL_0, f"Name:\t{obj.metadata.name}\n")
    w.write(LEVEL_0, f"Namespace:\t{obj.metadata.namespace}\n")
    labels_multiline(w, "Labels", obj.metadata.labels)
    annotations_multiline(w, "Annotations", obj.metadata.annotations)


def describe_config_map(ctx: Context, cm: core_pb2.ConfigMap, events: Sequence[core_pb2.Event] | None) -> str:
    w = PrefixWriter()
    _head(w, cm)
    w.write(LEVEL_0, "\nData\n====\n")
    for key in sorted(cm.data):
        w.write(LEVEL_0, f"{key}:\n----\n")
        w.write(LEVEL_0, f"{cm.data[key]}\n")
        w.write(LEVEL_0, "\n")
    w.write(LEVEL_0, "\nBinaryData\n====\n")
    for key in sorted(cm.binary_data):
        w.write(LEVEL_0, f"{key}: {len(cm.binary_data[key])} bytes\n")
    w.write(LEVEL_0, "\n")
    if events is not None:
        describe_events(events, w, ctx.now())
    return w.text()


def describe_secret(ctx: Context, secret: core_pb2.Secret, events: Sequence[core_pb2.Event] | None) -> str:
    """Keys and sizes only (kubectl prints a service-account token's value; pykubectl does not)."""
    w = PrefixWriter()
    _head(w, secret)
    w.write(LEVEL_0, f"\nType:\t{secret.type}\n")
    w.write(LEVEL_0, "\nData\n====\n")
    for key in sorted(secret.data):
        w.write(LEVEL_0, f"{key}:\t{len(secret.data[key])} bytes\n")
    return w.text()
