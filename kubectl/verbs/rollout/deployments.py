"""What the rollout verbs (and describe) need to know about a Deployment's ReplicaSets.

The Deployment controller keeps one ReplicaSet per pod template it has rolled out,
named ``<deployment>-<pod-template-hash>``, owned by the Deployment (a controller
ownerReference), and numbered by the annotation ``deployment.kubernetes.io/revision``.
The history of a Deployment is therefore just its ReplicaSets, and "the new
ReplicaSet" is the one whose template equals the Deployment's, ignoring the hash label
(kubectl's deploymentutil.FindNewReplicaSet / EqualIgnoreHash).
"""

from __future__ import annotations

from typing import Any, Sequence

from apimachinery.kinds import kind_info
from apimachinery.objects import controller_ref
from apimachinery.selectors import LabelSelector
from kubectl.watching import Query, list_objects
from protos import apps_pb2, core_pb2

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
HASH_LABEL = "pod-template-hash"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
# Progressing=False with this reason: the controller gave up waiting (progressDeadlineSeconds).
TIMED_OUT_REASON = "ProgressDeadlineExceeded"


def revision_of(obj: apps_pb2.ReplicaSet | apps_pb2.Deployment) -> int | None:
    """The revision annotation as a number; None when missing or not a number."""
    text = obj.metadata.annotations.get(REVISION_ANNOTATION, "")
    try:
        return int(text)
    except ValueError:
        return None


def is_controlled_by(obj: Any, owner: Any) -> bool:
    ref = controller_ref(obj)
    return ref is not None and ref.uid == owner.metadata.uid


def replica_sets_of(stub: Any, deployment: apps_pb2.Deployment) -> list[apps_pb2.ReplicaSet]:
    """The ReplicaSets this Deployment controls, oldest first (kubectl's listReplicaSets)."""
    selector = LabelSelector.from_proto(deployment.spec.selector)
    query = Query(kind_info("ReplicaSet"), deployment.metadata.namespace, str(selector))
    listed, _ = list_objects(stub, query)
    owned = [rs for rs in listed
             if isinstance(rs, apps_pb2.ReplicaSet) and selector.matches(rs.metadata.labels)
             and is_controlled_by(rs, deployment)]
    return sorted(owned, key=_created)


def _created(rs: apps_pb2.ReplicaSet) -> tuple[int, int, str]:
    stamp = rs.metadata.creation_timestamp
    return stamp.seconds, stamp.nanos, rs.metadata.name


def without_hash(template: core_pb2.PodTemplateSpec) -> core_pb2.PodTemplateSpec:
    """A copy of the template without the pod-template-hash label."""
    copy = core_pb2.PodTemplateSpec()
    copy.CopyFrom(template)
    copy.metadata.labels.pop(HASH_LABEL, None)
    return copy


def equal_ignore_hash(a: core_pb2.PodTemplateSpec, b: core_pb2.PodTemplateSpec) -> bool:
    return without_hash(a) == without_hash(b)


def new_replica_set(deployment: apps_pb2.Deployment,
                    replica_sets: Sequence[apps_pb2.ReplicaSet]) -> apps_pb2.ReplicaSet | None:
    """The oldest ReplicaSet whose template is the Deployment's current one."""
    for rs in sorted(replica_sets, key=_created):
        if equal_ignore_hash(rs.spec.template, deployment.spec.template):
            return rs
    return None


def old_replica_sets(deployment: apps_pb2.Deployment, replica_sets: Sequence[apps_pb2.ReplicaSet],
                     with_pods_only: bool = True) -> list[apps_pb2.ReplicaSet]:
    """The others; by default only those still asked for Pods (kubectl describe's OldReplicaSets)."""
    new = new_replica_set(deployment, replica_sets)
    return [rs for rs in replica_sets
            if (new is None or rs.metadata.uid != new.metadata.uid)
            and (not with_pods_only or _replicas(rs) != 0)]


def _replicas(rs: apps_pb2.ReplicaSet) -> int:
    return rs.spec.replicas if rs.spec.HasField("replicas") else 1


def desired_replicas(obj: apps_pb2.Deployment | apps_pb2.ReplicaSet) -> int:
    return obj.spec.replicas if obj.spec.HasField("replicas") else 1
