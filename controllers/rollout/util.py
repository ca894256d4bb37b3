"""Kubernetes' deployment util (pkg/controller/deployment/util): the names
(annotations, condition reasons, strategies) and the small pure helpers every part
of a sync uses: replica counts, maxSurge/maxUnavailable, finding the new and the old
ReplicaSets, the replicas annotations and proportional scaling."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TypeVar

from google.protobuf.message import Message

from controllers.hashing import POD_TEMPLATE_HASH_LABEL
from protos import apps_pb2, core_pb2, meta_pb2


# ------------------------------------------------------------------ names

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO_ANNOTATION = "deprecated.deployment.rollback.to"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"

# Deployment annotations that are not copied onto its ReplicaSets (they are the
# controller's own bookkeeping, or kubectl's).
ANNOTATIONS_TO_SKIP = frozenset({LAST_APPLIED_ANNOTATION, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION,
                                 DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, ROLLBACK_TO_ANNOTATION})
# Kubernetes caps the revision-history annotation at this many characters.
MAX_REV_HISTORY_LENGTH_IN_CHARS = 2000

AVAILABLE, PROGRESSING, REPLICA_FAILURE = "Available", "Progressing", "ReplicaFailure"
# Progressing reasons
NEW_RS_REASON = "NewReplicaSetCreated"
FOUND_NEW_RS_REASON = "FoundNewReplicaSet"
RS_UPDATED_REASON = "ReplicaSetUpdated"
NEW_RS_AVAILABLE_REASON = "NewReplicaSetAvailable"
TIMED_OUT_REASON = "ProgressDeadlineExceeded"
PAUSED_REASON = "DeploymentPaused"
RESUMED_REASON = "DeploymentResumed"
FAILED_RS_CREATE_REASON = "ReplicaSetCreateError"
# Available reasons
MIN_AVAILABLE_REASON = "MinimumReplicasAvailable"
MIN_UNAVAILABLE_REASON = "MinimumReplicasUnavailable"

SCALING_REPLICA_SET = "ScalingReplicaSet"
ROLLING_UPDATE, RECREATE = "RollingUpdate", "Recreate"
MAX_INT32 = 2**31 - 1

M = TypeVar("M", bound=Message)


def copy(msg: M) -> M:
    out = type(msg)()
    out.CopyFrom(msg)
    return out


def deployment_replicas(d: apps_pb2.Deployment) -> int:
    """spec.replicas; the apiserver defaults it to 1 when absent."""
    return d.spec.replicas if d.spec.HasField("replicas") else 1


def rs_replicas(rs: apps_pb2.ReplicaSet | None) -> int:
    if rs is None:
        return 0
    return rs.spec.replicas if rs.spec.HasField("replicas") else 1


def is_rolling_update(d: apps_pb2.Deployment) -> bool:
    return d.spec.strategy.type in ("", ROLLING_UPDATE)


def has_progress_deadline(d: apps_pb2.Deployment) -> bool:
    return d.spec.HasField("progress_deadline_seconds") and d.spec.progress_deadline_seconds != MAX_INT32


def has_revision_history_limit(d: apps_pb2.Deployment) -> bool:
    return d.spec.HasField("revision_history_limit") and d.spec.revision_history_limit != MAX_INT32


def creation_key(rs: apps_pb2.ReplicaSet) -> tuple[int, int, str]:
    """ReplicaSetsByCreationTimestamp: oldest first, ties broken by name."""
    ts = rs.metadata.creation_timestamp
    return (ts.seconds, ts.nanos, rs.metadata.name)


def by_creation(rss: Iterable[apps_pb2.ReplicaSet]) -> list[apps_pb2.ReplicaSet]:
    return sorted(rss, key=creation_key)


def scaled_value(value: meta_pb2.IntOrString, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent: 2 → 2; "25%" of 10 → 3 (up) or 2 (down)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return 0
    if kind == "int_val":
        return value.int_val
    text = value.str_val.strip()
    if not text.endswith("%"):
        raise ValueError(f"invalid value for IntOrString: invalid type: string is not a percentage: {text!r}")
    percent = int(text[:-1])
    return -(-total * percent // 100) if round_up else total * percent // 100


def resolve_fenceposts(max_surge: meta_pb2.IntOrString, max_unavailable: meta_pb2.IntOrString,
                       desired: int) -> tuple[int, int]:
    """(surge, unavailable) as numbers. Both 0 is not allowed by validation, but
    rounding "25%" of 1 down gives 0: then unavailable is 1, so a rollout can move."""
    surge = scaled_value(max_surge, desired, True)
    unavailable = scaled_value(max_unavailable, desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def max_surge(d: apps_pb2.Deployment) -> int:
    if not is_rolling_update(d):
        return 0
    rolling = d.spec.strategy.rolling_update
    return resolve_fenceposts(rolling.max_surge, rolling.max_unavailable, deployment_replicas(d))[0]


def max_unavailable(d: apps_pb2.Deployment) -> int:
    replicas = deployment_replicas(d)
    if not is_rolling_update(d) or replicas == 0:
        return 0
    rolling = d.spec.strategy.rolling_update
    return min(resolve_fenceposts(rolling.max_surge, rolling.max_unavailable, replicas)[1], replicas)


def replica_count(rss: Iterable[apps_pb2.ReplicaSet | None]) -> int:
    """Sum of spec.replicas (what the ReplicaSets are asked to run)."""
    return sum(rs_replicas(rs) for rs in rss if rs is not None)


def actual_replica_count(rss: Iterable[apps_pb2.ReplicaSet | None]) -> int:
    """Sum of status.replicas (the Pods that exist)."""
    return sum(rs.status.replicas for rs in rss if rs is not None)


def ready_replica_count(rss: Iterable[apps_pb2.ReplicaSet | None]) -> int:
    return sum(rs.status.ready_replicas for rs in rss if rs is not None)


def available_replica_count(rss: Iterable[apps_pb2.ReplicaSet | None]) -> int:
    """Sum of status.availableReplicas: Pods Ready for at least minReadySeconds,
    which the ReplicaSet controller counts."""
    return sum(rs.status.available_replicas for rs in rss if rs is not None)


def active(rss: Iterable[apps_pb2.ReplicaSet | None]) -> list[apps_pb2.ReplicaSet]:
    """FilterActiveReplicaSets: those asked to run at least one Pod."""
    return [rs for rs in rss if rs is not None and rs_replicas(rs) > 0]


def equal_ignore_hash(a: core_pb2.PodTemplateSpec, b: core_pb2.PodTemplateSpec) -> bool:
    """Are two Pod templates the same, apart from the pod-template-hash label?"""
    a2, b2 = copy(a), copy(b)
    a2.metadata.labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    b2.metadata.labels.pop(POD_TEMPLATE_HASH_LABEL, None)
    return a2 == b2


def find_new_replica_set(d: apps_pb2.Deployment,
                         rss: Iterable[apps_pb2.ReplicaSet]) -> apps_pb2.ReplicaSet | None:
    """The ReplicaSet running the Deployment's current template. Should two match
    (possible after upgrades), the oldest wins, deterministically."""
    for rs in by_creation(rss):
        if equal_ignore_hash(rs.spec.template, d.spec.template):
            return rs
    return None


def find_old_replica_sets(d: apps_pb2.Deployment, rss: Sequence[apps_pb2.ReplicaSet]
                          ) -> tuple[list[apps_pb2.ReplicaSet], list[apps_pb2.ReplicaSet]]:
    """(old ReplicaSets with replicas > 0, all old ReplicaSets)."""
    new_rs = find_new_replica_set(d, rss)
    all_old = [rs for rs in rss if rs is not new_rs]
    return [rs for rs in all_old if rs_replicas(rs) != 0], all_old


def find_active_or_latest(new_rs: apps_pb2.ReplicaSet | None,
                          old_rss: Sequence[apps_pb2.ReplicaSet]) -> apps_pb2.ReplicaSet | None:
    """The one ReplicaSet to scale when there is no rollout in progress: the only
    active one, or (none active) the new one, or else the newest old one."""
    if new_rs is None and not old_rss:
        return None
    newest_first = sorted(old_rss, key=creation_key, reverse=True)
    actives = active([*newest_first, new_rs])
    if not actives:
        return new_rs if new_rs is not None else newest_first[0]
    if len(actives) == 1:
        return actives[0]
    return None


def annotation_int(rs: apps_pb2.ReplicaSet, key: str) -> int | None:
    try:
        return int(rs.metadata.annotations[key])
    except (KeyError, ValueError):
        return None


def is_saturated(d: apps_pb2.Deployment, rs: apps_pb2.ReplicaSet | None) -> bool:
    """Does the new ReplicaSet run all the Deployment's replicas, all available?"""
    if rs is None:
        return False
    desired = annotation_int(rs, DESIRED_REPLICAS_ANNOTATION)
    if desired is None:
        return False
    replicas = deployment_replicas(d)
    return rs_replicas(rs) == replicas and desired == replicas and rs.status.available_replicas == replicas


def new_rs_new_replicas(d: apps_pb2.Deployment, all_rss: Sequence[apps_pb2.ReplicaSet | None],
                        new_rs: apps_pb2.ReplicaSet) -> int:
    """How far the new ReplicaSet may grow now: Recreate at once to replicas; a
    rolling update as far as maxSurge allows (total ≤ replicas + maxSurge)."""
    replicas = deployment_replicas(d)
    if not is_rolling_update(d):
        return replicas
    surge = scaled_value(d.spec.strategy.rolling_update.max_surge, replicas, True)
    current = replica_count(all_rss)
    max_total = replicas + surge
    if current >= max_total:
        return rs_replicas(new_rs)  # cannot scale up
    scale_up = min(max_total - current, replicas - rs_replicas(new_rs))
    return rs_replicas(new_rs) + scale_up


def set_replicas_annotations(rs: apps_pb2.ReplicaSet, desired: int, max_replicas: int) -> bool:
    """desired-replicas / max-replicas: the Deployment size a ReplicaSet was last
    scaled for, which proportional scaling needs to compute its share."""
    updated = False
    for key, value in ((DESIRED_REPLICAS_ANNOTATION, str(desired)), (MAX_REPLICAS_ANNOTATION, str(max_replicas))):
        if rs.metadata.annotations.get(key) != value:
            rs.metadata.annotations[key] = value
            updated = True
    return updated


def replicas_annotations_need_update(rs: apps_pb2.ReplicaSet, desired: int, max_replicas: int) -> bool:
    return (rs.metadata.annotations.get(DESIRED_REPLICAS_ANNOTATION) != str(desired)
            or rs.metadata.annotations.get(MAX_REPLICAS_ANNOTATION) != str(max_replicas))


def replica_set_fraction(rs: apps_pb2.ReplicaSet, d: apps_pb2.Deployment) -> int:
    """How many replicas this ReplicaSet gains (or loses) when the Deployment is
    resized mid-rollout: its share of the new maximum, by the maximum it was sized for."""
    replicas = deployment_replicas(d)
    if replicas == 0:
        return -rs_replicas(rs)
    new_max = replicas + max_surge(d)
    before = annotation_int(rs, MAX_REPLICAS_ANNOTATION)
    if not before:
        desired = annotation_int(rs, DESIRED_REPLICAS_ANNOTATION)
        before = desired if desired is not None else d.status.replicas
    if not before:
        return 0
    new_size = rs_replicas(rs) * new_max / before
    return math.floor(new_size + 0.5) - rs_replicas(rs)  # Go's math.Round for x ≥ 0


def replica_set_proportion(rs: apps_pb2.ReplicaSet, d: apps_pb2.Deployment, to_add: int, added: int) -> int:
    if rs_replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = replica_set_fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)
