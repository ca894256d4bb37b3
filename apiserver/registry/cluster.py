"""Cluster-scoped and bookkeeping kinds: Nodes, Namespaces, Events, Leases."""

from __future__ import annotations

from apiserver.registry import validation as v
from apiserver.registry.base import Strategy
from apiserver.registry.pod import TAINT_EFFECTS
from protos import coordination_pb2, core_pb2

# Namespaces that always exist and may not be deleted.
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-node-lease", "kube-public")


class NodeStrategy(Strategy):
    kind = "Node"

    def prepare_for_create(self, obj: core_pb2.Node) -> None:
        """A kubelet registers its Node with its status in one call, so keep it."""

    def validate(self, obj: core_pb2.Node) -> list[v.FieldError]:
        errs: list[v.FieldError] = []
        for i, taint in enumerate(obj.spec.taints):
            path = f"spec.taints[{i}]"
            if not taint.key:
                errs.append(v.required(f"{path}.key"))
            else:
                errs += v.qualified_name(f"{path}.key", taint.key)
            if taint.effect not in TAINT_EFFECTS:
                errs.append(v.unsupported(f"{path}.effect", taint.effect, TAINT_EFFECTS))
        for section in ("capacity", "allocatable"):
            for resource, amount in getattr(obj.status, section).items():
                errs += v.quantity(f"status.{section}[{resource}]", amount)
        if obj.spec.pod_cidr and obj.spec.pod_cidrs and obj.spec.pod_cidrs[0] != obj.spec.pod_cidr:
            errs.append(v.invalid("spec.podCIDRs", list(obj.spec.pod_cidrs),
                                  "must match the first element of podCIDRs"))
        return errs

    def validate_update(self, new: core_pb2.Node, old: core_pb2.Node) -> list[v.FieldError]:
        """A Node's Pod range is set once (by the node IPAM controller): Pods hold its addresses."""
        if old.spec.pod_cidr and (new.spec.pod_cidr != old.spec.pod_cidr
                                  or list(new.spec.pod_cidrs) != list(old.spec.pod_cidrs)):
            return [v.forbidden("spec.podCIDRs", 'node updates may not change podCIDR except from "" to valid')]
        return []


class NamespaceStrategy(Strategy):
    kind = "Namespace"
    name_is_label = True

    def initial_status(self, obj: core_pb2.Namespace) -> None:
        obj.status.phase = "Active"


class EventStrategy(Strategy):
    kind = "Event"

    def default(self, obj: core_pb2.Event) -> None:
        obj.type = obj.type or "Normal"
        obj.count = obj.count or 1

    def validate(self, obj: core_pb2.Event) -> list[v.FieldError]:
        errs: list[v.FieldError] = []
        if obj.type not in ("Normal", "Warning"):
            errs.append(v.unsupported("type", obj.type, ("Normal", "Warning")))
        ref = obj.involved_object
        if ref.namespace and ref.namespace != obj.metadata.namespace:
            errs.append(v.invalid("involvedObject.namespace", ref.namespace,
                                  "does not match event.namespace"))
        return errs


class LeaseStrategy(Strategy):
    kind = "Lease"

    def validate(self, obj: coordination_pb2.Lease) -> list[v.FieldError]:
        if obj.spec.HasField("lease_duration_seconds") and obj.spec.lease_duration_seconds <= 0:
            return [v.invalid("spec.leaseDurationSeconds", obj.spec.lease_duration_seconds,
                              "must be greater than 0")]
        return []
