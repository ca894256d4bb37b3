"""Revisions (the history `kubectl rollout history` and `undo` read): each
ReplicaSet's revision annotation, raised when it becomes the new one again (the
earlier numbers kept in revision-history), and the Deployment's own annotations
(change-cause...) copied onto it."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import Message

from controllers.rollout.util import (
    ANNOTATIONS_TO_SKIP, MAX_REV_HISTORY_LENGTH_IN_CHARS, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION,
    deployment_replicas, max_surge, set_replicas_annotations,
)
from protos import apps_pb2


def revision(obj: Message) -> int:
    """The revision annotation as a number (0 when absent or not a number)."""
    try:
        return int(obj.metadata.annotations.get(REVISION_ANNOTATION, ""))  # type: ignore[attr-defined]
    except ValueError:
        return 0


def max_revision(rss: Iterable[apps_pb2.ReplicaSet]) -> int:
    return max((revision(rs) for rs in rss), default=0)


def copy_deployment_annotations_to_rs(d: apps_pb2.Deployment, rs: apps_pb2.ReplicaSet) -> bool:
    """Copy the Deployment's own annotations (kubernetes.io/change-cause, ...) onto
    the ReplicaSet, which is how `rollout history` shows a revision's cause."""
    changed = False
    for key, value in d.metadata.annotations.items():
        if key in ANNOTATIONS_TO_SKIP or rs.metadata.annotations.get(key) == value:
            continue
        rs.metadata.annotations[key] = value
        changed = True
    return changed


def set_new_rs_annotations(d: apps_pb2.Deployment, rs: apps_pb2.ReplicaSet, new_revision: int, exists: bool,
                           limit_chars: int = MAX_REV_HISTORY_LENGTH_IN_CHARS) -> bool:
    """Annotate the new ReplicaSet: copied Deployment annotations, its revision
    (only ever raised: a ReplicaSet that becomes new again, as after a rollback,
    gets max + 1 and remembers its earlier revisions in revision-history), and for
    a ReplicaSet about to be created the replicas annotations."""
    changed = copy_deployment_annotations_to_rs(d, rs)
    annotations = rs.metadata.annotations
    had_revision = REVISION_ANNOTATION in annotations
    old_text = annotations.get(REVISION_ANNOTATION, "")
    try:
        old_revision = int(old_text) if old_text else 0
    except ValueError:
        return False
    if old_revision < new_revision:
        annotations[REVISION_ANNOTATION] = str(new_revision)
        changed = True
    if had_revision and old_revision < new_revision:
        history = annotations.get(REVISION_HISTORY_ANNOTATION, "")
        if not history:
            annotations[REVISION_HISTORY_ANNOTATION] = old_text
        else:
            old_revisions = history.split(",")
            total = len(history) + len(old_text) + 1
            start = 0
            while total > limit_chars and start < len(old_revisions):
                total -= len(old_revisions[start]) + 1
                start += 1
            if total <= limit_chars:
                annotations[REVISION_HISTORY_ANNOTATION] = ",".join([*old_revisions[start:], old_text])
    if not exists and set_replicas_annotations(rs, deployment_replicas(d), deployment_replicas(d) + max_surge(d)):
        changed = True
    return changed
