"""What every describer shares: the Events section, labels, annotations, taints and
tolerations written kubectl's way, and small formatting helpers."""

from __future__ import annotations

import datetime
from typing import Any, Iterable, Mapping, Sequence

from google.protobuf.message import Message

from apimachinery.kinds import info_of, kind_info
from apimachinery.objects import controller_ref
from apimachinery.tables.cells import NONE, event_interval
from kubectl.context import Context
from kubectl.describe_text import PrefixWriter
from kubectl.watching import Query, list_objects
from protos import core_pb2, meta_pb2

LEVEL_0, LEVEL_1, LEVEL_2, LEVEL_3 = 0, 1, 2, 3
MAX_ANNOTATION_LEN = 140
SKIP_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})


# ------------------------------------------------------------------ events


def find_events(ctx: Context, obj: Message) -> list[core_pb2.Event]:
    """Events about this very object: kubectl's Events(namespace).Search, a field selector
    on involvedObject name, namespace, kind and uid."""
    info = info_of(obj)
    meta = obj.metadata  # type: ignore[attr-defined]
    terms = [f"involvedObject.name={meta.name}", f"involvedObject.namespace={meta.namespace}",
             f"involvedObject.kind={info.kind}"]
    if meta.uid:
        terms.append(f"involvedObject.uid={meta.uid}")
    events, _ = list_objects(ctx.api, Query(kind_info("Event"), meta.namespace, field_selector=",".join(terms)))
    mine = [e for e in events if isinstance(e, core_pb2.Event) and _about(e, info.kind, meta)]
    return sorted(mine, key=_event_time)


def _about(event: core_pb2.Event, kind: str, meta: meta_pb2.ObjectMeta) -> bool:
    ref = event.involved_object
    return (ref.name == meta.name and ref.kind == kind and ref.namespace == meta.namespace
            and (not meta.uid or ref.uid == meta.uid))


def _event_time(event: core_pb2.Event) -> tuple[int, int]:
    stamp = event.last_timestamp if event.HasField("last_timestamp") else event.first_timestamp
    return stamp.seconds, stamp.nanos


def describe_events(events: Sequence[core_pb2.Event], w: PrefixWriter, now: datetime.datetime) -> None:
    """kubectl's DescribeEvents: ``Events:  <none>`` or a Type/Reason/Age/From/Message table."""
    if not events:
        w.write(LEVEL_0, "Events:\t<none>\n")
        return
    w.flush()
    w.write(LEVEL_0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
    w.write(LEVEL_1, "----\t------\t----\t----\t-------\n")
    for event in events:
        source = event.source.component or event.reporting_component
        w.write(LEVEL_1, f"{event.type}\t{event.reason}\t{event_interval(event, now)}\t{source}\t"
                         f"{event.message.strip()}\n")


# ------------------------------------------------------------- shared bits


def labels_multiline(w: PrefixWriter, title: str, labels: Mapping[str, str], initial_indent: str = "",
                     inner_indent: str = "\t") -> None:
    w.write(LEVEL_0, f"{initial_indent}{title}:{inner_indent}")
    if not labels:
        w.line(NONE)
        return
    for i, key in enumerate(sorted(labels)):
        if i:
            w.write(LEVEL_0, initial_indent + inner_indent)
        w.write(LEVEL_0, f"{key}={labels[key]}\n")


def annotations_multiline(w: PrefixWriter, title: str, annotations: Mapping[str, str]) -> None:
    w.write(LEVEL_0, f"{title}:\t")
    keys = sorted(key for key in annotations if key not in SKIP_ANNOTATIONS)
    if not keys:
        w.line(NONE)
        return
    indent = "\t"
    for i, key in enumerate(keys):
        if i:
            w.write(LEVEL_0, indent)
        value = annotations[key].removesuffix("\n")
        if len(value) + len(key) + 2 > MAX_ANNOTATION_LEN or "\n" in value:
            w.write(LEVEL_0, f"{key}:\n")
            for part in value.split("\n"):
                w.write(LEVEL_0, f"{indent}  {_shorten(part, MAX_ANNOTATION_LEN - 2)}\n")
        else:
            w.write(LEVEL_0, f"{key}: {value}\n")


def _shorten(text: str, limit: int) -> str:
    return text[:limit] + "..." if len(text) > limit else text


def tolerations_multiline(w: PrefixWriter, title: str, tolerations: Iterable[core_pb2.Toleration],
                          initial_indent: str = "", inner_indent: str = "\t") -> None:
    w.write(LEVEL_0, f"{initial_indent}{title}:{inner_indent}")
    ordered = sorted(tolerations, key=lambda t: t.key)
    if not ordered:
        w.line(NONE)
        return
    for i, toleration in enumerate(ordered):
        if i:
            w.write(LEVEL_0, initial_indent + inner_indent)
        text = toleration.key
        if toleration.value:
            text += f"={toleration.value}"
        if toleration.effect:
            text += f":{toleration.effect}"
        if toleration.operator == "Exists" and not toleration.value:
            text += " op=Exists" if (toleration.key or toleration.effect) else "op=Exists"
        if toleration.HasField("toleration_seconds"):
            text += f" for {toleration.toleration_seconds}s"
        w.write(LEVEL_0, text + "\n")


def taint_text(taint: core_pb2.Taint) -> str:
    """``key=value:Effect`` or ``key:Effect`` (Taint.ToString)."""
    return f"{taint.key}={taint.value}:{taint.effect}" if taint.value else f"{taint.key}:{taint.effect}"


def taints_multiline(w: PrefixWriter, title: str, taints: Iterable[core_pb2.Taint]) -> None:
    w.write(LEVEL_0, f"{title}:\t")
    ordered = sorted(taints, key=lambda t: f"{t.effect},{t.key}")
    if not ordered:
        w.line(NONE)
        return
    for i, taint in enumerate(ordered):
        if i:
            w.write(LEVEL_0, "\t")
        w.write(LEVEL_0, taint_text(taint) + "\n")


def controlled_by(obj: Any) -> str:
    """``ReplicaSet/web-7d4b9c``: the controller owner, as kubectl's printController."""
    ref = controller_ref(obj)
    return f"{ref.kind}/{ref.name}" if ref is not None else ""


def int_or_string(value: meta_pb2.IntOrString) -> str:
    return str(value.int_val) if value.WhichOneof("value") == "int_val" else value.str_val


def bool_text(value: bool) -> str:
    return "True" if value else "False"


def go_bool(value: bool) -> str:
    return "true" if value else "false"

