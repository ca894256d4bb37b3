"""The Deployment's status and conditions (Kubernetes' progress.go and the
condition helpers of its util package): the counts from the ReplicaSets, the
Available condition, whether a rollout is complete, progressing or past its
progressDeadlineSeconds, and when to look again at one that is stuck."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.timestamp_pb2 import Timestamp

from controllers.rollout.util import (
    AVAILABLE, FAILED_RS_CREATE_REASON, MIN_AVAILABLE_REASON, MIN_UNAVAILABLE_REASON, NEW_RS_AVAILABLE_REASON,
    PROGRESSING, REPLICA_FAILURE, TIMED_OUT_REASON, actual_replica_count, available_replica_count, copy,
    deployment_replicas, has_progress_deadline, max_unavailable, ready_replica_count, replica_count,
)
from protos import apps_pb2, meta_pb2


def timestamp(now: float) -> Timestamp:
    """Condition times in whole seconds, as Kubernetes' metav1.Time serializes them."""
    return Timestamp(seconds=int(now))


def get_condition(status: apps_pb2.DeploymentStatus, kind: str) -> meta_pb2.Condition | None:
    for cond in status.conditions:
        if cond.type == kind:
            return cond
    return None


def new_condition(kind: str, status: str, reason: str, message: str, now: float) -> meta_pb2.Condition:
    ts = timestamp(now)
    return meta_pb2.Condition(type=kind, status=status, reason=reason, message=message,
                              last_update_time=ts, last_transition_time=ts)


def set_condition(status: apps_pb2.DeploymentStatus, cond: meta_pb2.Condition) -> None:
    """Set a condition unless one of that type with the same status and reason is
    there; lastTransitionTime survives when only the reason changes."""
    current = get_condition(status, cond.type)
    if current is not None and current.status == cond.status and current.reason == cond.reason:
        return
    cond = copy(cond)
    if current is not None and current.status == cond.status:
        cond.last_transition_time.CopyFrom(current.last_transition_time)
    remove_condition(status, cond.type)
    status.conditions.append(cond)


def remove_condition(status: apps_pb2.DeploymentStatus, kind: str) -> None:
    kept = [copy(c) for c in status.conditions if c.type != kind]
    del status.conditions[:]
    status.conditions.extend(kept)


def deployment_complete(d: apps_pb2.Deployment, status: apps_pb2.DeploymentStatus) -> bool:
    """Every replica updated and available, no old ones left, this generation seen."""
    replicas = deployment_replicas(d)
    return (status.updated_replicas == replicas and status.replicas == replicas
            and status.available_replicas == replicas and status.observed_generation >= d.metadata.generation)


def deployment_progressing(d: apps_pb2.Deployment, new: apps_pb2.DeploymentStatus) -> bool:
    """Did anything move since the last status: more updated, fewer old, more ready or available?"""
    old = d.status
    return (new.updated_replicas > old.updated_replicas
            or (new.replicas - new.updated_replicas) < (old.replicas - old.updated_replicas)
            or new.ready_replicas > old.ready_replicas
            or new.available_replicas > old.available_replicas)


def deployment_timed_out(d: apps_pb2.Deployment, new: apps_pb2.DeploymentStatus, now: float) -> bool:
    """No progress for progressDeadlineSeconds since the Progressing condition's lastUpdateTime."""
    if not has_progress_deadline(d):
        return False
    cond = get_condition(new, PROGRESSING)
    if cond is None or cond.reason == NEW_RS_AVAILABLE_REASON:
        return False
    if cond.reason == TIMED_OUT_REASON:
        return True
    return cond.last_update_time.seconds + d.spec.progress_deadline_seconds < now


def calculate_status(all_rss: Sequence[apps_pb2.ReplicaSet | None], new_rs: apps_pb2.ReplicaSet | None,
                     d: apps_pb2.Deployment, now: float) -> apps_pb2.DeploymentStatus:
    """Counts from the ReplicaSets' status, and the Available condition."""
    available = available_replica_count(all_rss)
    unavailable = max(replica_count(all_rss) - available, 0)
    status = apps_pb2.DeploymentStatus(
        observed_generation=d.metadata.generation,
        replicas=actual_replica_count(all_rss),
        updated_replicas=actual_replica_count([new_rs]),
        ready_replicas=ready_replica_count(all_rss),
        available_replicas=available,
        unavailable_replicas=unavailable)
    if d.status.HasField("collision_count"):
        status.collision_count = d.status.collision_count
    status.conditions.extend(copy(c) for c in d.status.conditions)
    if available >= deployment_replicas(d) - max_unavailable(d):
        set_condition(status, new_condition(AVAILABLE, "True", MIN_AVAILABLE_REASON,
                                            "Deployment has minimum availability.", now))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE_REASON,
                                            "Deployment does not have minimum availability.", now))
    return status


def replica_failures(all_rss: Sequence[apps_pb2.ReplicaSet | None],
                     new_rs: apps_pb2.ReplicaSet | None) -> list[meta_pb2.Condition]:
    """ReplicaFailure conditions of the ReplicaSets (the new one's first), as Deployment conditions."""
    def convert(rs: apps_pb2.ReplicaSet) -> list[meta_pb2.Condition]:
        return [meta_pb2.Condition(type=c.type, status=c.status, reason=c.reason, message=c.message,
                                   last_transition_time=c.last_transition_time,
                                   last_update_time=c.last_transition_time)
                for c in rs.status.conditions if c.type == REPLICA_FAILURE]
    if new_rs is not None and (found := convert(new_rs)):
        return found
    return [c for rs in all_rss if rs is not None for c in convert(rs)]


def requeue_stuck_after(d: apps_pb2.Deployment, new_status: apps_pb2.DeploymentStatus, now: float) -> float | None:
    """When to look again at a rollout that made no progress: just after its
    progress deadline would pass (nothing else may wake the controller then)."""
    current = get_condition(d.status, PROGRESSING)
    if not has_progress_deadline(d) or current is None:
        return None
    if deployment_complete(d, new_status) or current.reason == TIMED_OUT_REASON:
        return None
    after = current.last_update_time.seconds + d.spec.progress_deadline_seconds - now
    return max(after, 0.0) + 1.0


def failed_create_status(d: apps_pb2.Deployment, rs_name: str, error: str, now: float
                         ) -> tuple[apps_pb2.DeploymentStatus | None, str]:
    """The status and Warning message when creating the new ReplicaSet failed."""
    msg = f'Failed to create new replica set "{rs_name}": {error}'
    if not has_progress_deadline(d):
        return None, msg
    status = copy(d.status)
    set_condition(status, new_condition(PROGRESSING, "False", FAILED_RS_CREATE_REASON, msg, now))
    return (status if status != d.status else None), msg
