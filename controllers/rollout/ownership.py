"""Which ReplicaSets a Deployment owns (Kubernetes' ControllerRefManager): owned,
to adopt (matching orphans) and to release (relabelled away), and their Pods by
ReplicaSet."""

from __future__ import annotations

from collections.abc import Iterable

from apimachinery.objects import controller_ref, is_deleting, new_controller_ref
from apimachinery.selectors import LabelSelector
from controllers.rollout.util import copy
from protos import apps_pb2, core_pb2


def claim_replica_sets(d: apps_pb2.Deployment, candidates: Iterable[apps_pb2.ReplicaSet]
                       ) -> tuple[list[apps_pb2.ReplicaSet], list[apps_pb2.ReplicaSet], list[apps_pb2.ReplicaSet]]:
    """(owned, to adopt, to release) among the ReplicaSets of the Deployment's namespace.

    Owned: controller reference to this Deployment and labels matching its selector.
    Adopt: no controller reference, labels matching, neither side being deleted.
    Release: ours but the labels no longer match (someone relabelled it)."""
    selector = LabelSelector.from_proto(d.spec.selector)
    owned, adopt, release = [], [], []
    for rs in candidates:
        if rs.metadata.namespace != d.metadata.namespace:
            continue
        ref = controller_ref(rs)
        matches = selector.matches(rs.metadata.labels)
        if ref is not None:
            if ref.uid != d.metadata.uid:
                continue
            if matches:
                owned.append(rs)
            elif not is_deleting(d):
                release.append(rs)
            continue
        if matches and not is_deleting(d) and not is_deleting(rs):
            adopt.append(rs)
    return owned, adopt, release


def adopted(rs: apps_pb2.ReplicaSet, d: apps_pb2.Deployment) -> apps_pb2.ReplicaSet:
    out = copy(rs)
    out.metadata.owner_references.append(new_controller_ref(d))
    return out


def released(rs: apps_pb2.ReplicaSet, d: apps_pb2.Deployment) -> apps_pb2.ReplicaSet:
    out = copy(rs)
    kept = [copy(r) for r in out.metadata.owner_references if r.uid != d.metadata.uid]
    del out.metadata.owner_references[:]
    out.metadata.owner_references.extend(kept)
    return out


def pod_map(rss: Iterable[apps_pb2.ReplicaSet], pods: Iterable[core_pb2.Pod]) -> dict[str, list[core_pb2.Pod]]:
    """Pods by the uid of the (given) ReplicaSet that controls them."""
    out: dict[str, list[core_pb2.Pod]] = {rs.metadata.uid: [] for rs in rss}
    for pod in pods:
        ref = controller_ref(pod)
        if ref is not None and ref.uid in out:
            out[ref.uid].append(pod)
    return out
