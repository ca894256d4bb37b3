"""What a kubelet may do: Kubernetes' Node authorizer and NodeRestriction admission, as
pure decisions.

A kubelet authenticates as ``system:node:<name>`` in the group ``system:nodes``. It reads
what it needs (nodes, pods, services and endpointslices: the last two for a pykube-proxy
that runs with its node's identity, as a token-joined worker does; and, one by one, the
ConfigMaps and Secrets its Pods refer to: node_graph.py; a get, or a list/watch whose
``metadata.name`` field selector names one of them), and writes only:

* its own Node (create, update; status) — never another node, never its own taints, and no
  label that steers workloads onto it (``node-restriction.kubernetes.io/*``, or any
  ``kubernetes.io``/``k8s.io`` label a kubelet does not set itself, such as
  ``node-role.kubernetes.io/*``);
* its own Lease, in ``kube-node-lease``, named like the node;
* the status of Pods bound to it (``spec.nodeName`` = its name);
* Events.

It cannot create Pods (pykube has no mirror Pods), bind Pods, update their spec, or delete
them — with one exception, because pykube's kubelet finalizes graceful deletion the way
Kubernetes' does: once a Pod bound to it is being deleted (``deletionTimestamp`` set) and
its containers are stopped, the kubelet confirms with a delete of grace period 0
(``kubelet.Kubelet.confirm_deletion``), which removes the object. NodeRestriction allows
exactly that call and nothing else: Kubernetes lets a node delete any Pod bound to it;
pykube's issue says a kubelet cannot delete Pods, so a kubelet cannot *start* a deletion.

Split as in Kubernetes: ``NodeAuthorizer`` decides from the request's attributes (plus a
Pod lookup, ``pod_node(namespace, name)``, for the Pod calls it can settle there);
``NodeRestriction.admit`` checks the objects (old and new) a write would store.
"""

from __future__ import annotations

from typing import Callable

from google.protobuf.message import Message

from apimachinery.identity import UserInfo
from apiserver.auth.attributes import ALLOW, NO_OPINION, Attributes, Decision, qualified_resource
from apiserver.auth.bootstrap import NODE_RULES
from apiserver.auth.rbac import rules_allow
from protos import api_pb2, core_pb2

NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
NODE_LEASE_NAMESPACE = "kube-node-lease"
COORDINATION_GROUP = "coordination.k8s.io"
NO_RELATIONSHIP = "no relationship found between node '{node}' and this object"

PodNode = Callable[[str, str], "str | None"]  # (namespace, name) -> the Pod's spec.nodeName, None if absent
# (node, kind, namespace, name) -> a Pod bound to the node refers to that ConfigMap/Secret/claim
# (or, for a PersistentVolume, to a claim bound to it).
NodeReads = Callable[[str, str, str, str], bool]
CONFIG_RESOURCES = {"configmaps": "ConfigMap", "secrets": "Secret",
                    "persistentvolumeclaims": "PersistentVolumeClaim", "persistentvolumes": "PersistentVolume"}

# Labels a kubelet sets on its own Node (k8s.io/kubelet/pkg/apis: IsKubeletLabel).
KUBELET_LABELS = frozenset({
    "kubernetes.io/hostname", "kubernetes.io/os", "kubernetes.io/arch",
    "beta.kubernetes.io/os", "beta.kubernetes.io/arch", "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type", "topology.kubernetes.io/zone", "topology.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
})
KUBELET_LABEL_NAMESPACES = ("kubelet.kubernetes.io", "node.kubernetes.io")
NODE_RESTRICTION_NAMESPACE = "node-restriction.kubernetes.io"


def node_identity(user: UserInfo) -> str | None:
    """The node a user is (Kubernetes' NodeIdentity): None for a non-node, "" for a member
    of system:nodes whose name does not say which node."""
    if NODES_GROUP not in user.groups:
        return None
    return user.name[len(NODE_USER_PREFIX):] if user.name.startswith(NODE_USER_PREFIX) else ""


# ------------------------------------------------------------------ authorizer


class NodeAuthorizer:
    """Kubernetes' Node authorizer: settles requests from nodes, has no opinion on others
    (they go on to RBAC). Its static rules are the bootstrap ``system:node`` role's."""

    def __init__(self, pod_node: PodNode, node_reads: NodeReads | None = None) -> None:
        self.pod_node = pod_node
        self.node_reads = node_reads or (lambda node, kind, namespace, name: False)

    def authorize(self, attrs: Attributes) -> Decision:
        node = node_identity(attrs.user)
        if node is None:
            return NO_OPINION
        if not node:
            return Decision(False, f'unknown node for user "{attrs.user.name}"')
        if attrs.is_resource_request:
            resource = (attrs.api_group, attrs.resource)
            if resource == ("", "pods"):
                return self._pod(node, attrs)
            if resource == ("", "nodes"):
                return self._node(node, attrs)
            if resource == (COORDINATION_GROUP, "leases"):
                return self._lease(node, attrs)
            if attrs.api_group == "" and attrs.resource in CONFIG_RESOURCES:
                return self._config(node, attrs)
        return ALLOW if rules_allow(attrs, NODE_RULES) else NO_OPINION

    def _pod(self, node: str, attrs: Attributes) -> Decision:
        verb, sub = attrs.verb, attrs.subresource
        if not sub and verb in ("get", "list", "watch"):
            return ALLOW
        # Writes: the status of its own Pods, and the delete that confirms a graceful deletion
        # (NodeRestriction checks the rest). Nothing else: no create, bind, spec update, exec.
        if (sub == "status" and verb in ("update", "patch")) or (not sub and verb == "delete"):
            bound_to = self.pod_node(attrs.namespace, attrs.name)
            # A Pod that is gone: let the call answer NotFound, as Kubernetes does (the kubelet
            # drops a status or deletion on NotFound, and would retry a refusal forever).
            if bound_to is None or bound_to == node:
                return ALLOW
            return Decision(False, NO_RELATIONSHIP.format(node=node))
        return NO_OPINION

    def _config(self, node: str, attrs: Attributes) -> Decision:
        """Kubernetes' authorizeReadNamespacedObject for ConfigMaps and Secrets: read (get, or
        list/watch narrowed to the one object by a ``metadata.name=`` field selector, which names
        it in the attributes: the kubelet's watch-based ConfigMap/Secret cache) one a Pod bound
        to the node refers to; and authorizeGet for PersistentVolumeClaims and PersistentVolumes:
        get a claim such a Pod uses, or the volume bound to it. The graph decides; nothing else,
        and never a whole collection."""
        if attrs.resource not in ("configmaps", "secrets"):
            if attrs.verb != "get" or attrs.subresource or not attrs.name:
                return Decision(False, "can only get individual resources of this type")
        elif attrs.verb not in ("get", "list", "watch"):
            return Decision(False, "can only read resources of this type")
        elif attrs.subresource:
            return Decision(False, "cannot read subresource")
        elif not attrs.namespace:
            return Decision(False, "can only read namespaced object of this type")
        elif not attrs.name:
            return Decision(False, "No Object name found")
        if self.node_reads(node, CONFIG_RESOURCES[attrs.resource], attrs.namespace, attrs.name):
            return ALLOW
        return Decision(False, NO_RELATIONSHIP.format(node=node))

    def _node(self, node: str, attrs: Attributes) -> Decision:
        verb = attrs.verb
        if attrs.subresource in ("", "status") and verb in ("update", "patch"):
            if attrs.name != node:
                return Decision(False, f'node "{node}" is not allowed to modify node "{attrs.name}"')
            return ALLOW
        return ALLOW if rules_allow(attrs, NODE_RULES) else NO_OPINION

    def _lease(self, node: str, attrs: Attributes) -> Decision:
        """Kubernetes' authorizeLease: a node's own Lease in kube-node-lease (the name of a
        create is checked by NodeRestriction, as the request carries none)."""
        if attrs.verb not in ("get", "create", "update", "patch", "delete"):
            return Decision(False, "can only get, create, update, patch, or delete a node lease")
        if attrs.namespace != NODE_LEASE_NAMESPACE:
            return Decision(False, f'can only access leases in the "{NODE_LEASE_NAMESPACE}" system namespace')
        if attrs.verb != "create" and attrs.name != node:
            return Decision(False, "can only access node lease with the same name as the requesting node")
        return ALLOW


# ------------------------------------------------------------------ admission

OPERATIONS = {"create": "CREATE", "update": "UPDATE", "patch": "UPDATE", "delete": "DELETE"}


def _label_namespace(key: str) -> str:
    prefix, slash, _ = key.partition("/")
    return prefix if slash else ""


def _in_namespace(namespace: str, suffix: str) -> bool:
    return namespace == suffix or namespace.endswith("." + suffix)


def is_kubelet_label(key: str) -> bool:
    return key in KUBELET_LABELS or any(_in_namespace(_label_namespace(key), ns) for ns in KUBELET_LABEL_NAMESPACES)


def forbidden_labels(new: dict[str, str], old: dict[str, str]) -> list[str]:
    """Labels added, removed or changed that a node may not touch (getForbiddenLabels)."""
    modified = {k for k in new.keys() | old.keys() if new.get(k) != old.get(k)}
    forbidden = set()
    for key in modified:
        namespace = _label_namespace(key)
        if _in_namespace(namespace, NODE_RESTRICTION_NAMESPACE):
            forbidden.add(key)
        kubernetes = _in_namespace(namespace, "kubernetes.io") or _in_namespace(namespace, "k8s.io")
        if kubernetes and not is_kubelet_label(key):
            forbidden.add(key)
    return sorted(forbidden)


class NodeRestriction:
    """Kubernetes' NodeRestriction admission plugin: for a node's write, given the stored
    object (old) and the object to store (new), None to admit or the Forbidden message."""

    @staticmethod
    def admit(attrs: Attributes, old_obj: Message | None, new_obj: Message | None,
              options: api_pb2.DeleteRequest | None = None) -> str | None:
        node = node_identity(attrs.user)
        if node is None or not attrs.is_resource_request:
            return None
        operation = OPERATIONS.get(attrs.verb)
        if operation is None:  # reads are not admission's business
            return None
        name = attrs.name or (new_obj.metadata.name if new_obj is not None else "")  # type: ignore[attr-defined]

        def forbidden(why: str) -> str:
            return f'{qualified_resource(attrs)} "{name}" is forbidden: {why}'

        if not node:
            return forbidden(f'could not determine node from user "{attrs.user.name}"')
        resource = (attrs.api_group, attrs.resource)
        if resource == ("", "pods"):
            return _admit_pod(node, attrs, operation, old_obj, new_obj, options, forbidden)
        if resource == ("", "nodes"):
            return _admit_node(node, name, operation, old_obj, new_obj, forbidden)
        if resource == (COORDINATION_GROUP, "leases"):
            if attrs.namespace != NODE_LEASE_NAMESPACE:
                return forbidden(f'can only access leases in the "{NODE_LEASE_NAMESPACE}" system namespace')
            if name != node:
                return forbidden("can only access node lease with the same name as the requesting node")
        return None


def _admit_pod(node: str, attrs: Attributes, operation: str, old: Message | None, new: Message | None,
               options: api_pb2.DeleteRequest | None, forbidden: Callable[[str], str]) -> str | None:
    sub = attrs.subresource
    if sub == "status":
        if operation != "UPDATE":
            return forbidden(f'unexpected operation "{operation}"')
        if not isinstance(old, core_pb2.Pod) or old.spec.node_name != node:
            return forbidden(f'node "{node}" can only update pod status for pods with spec.nodeName set to itself')
        if isinstance(new, core_pb2.Pod) and dict(new.metadata.labels) != dict(old.metadata.labels):
            return forbidden(f'node "{node}" cannot update labels through pod status')
        return None
    if sub:
        return forbidden(f"unexpected pod subresource \"{sub}\", only 'status' and 'eviction' are allowed")
    if operation == "CREATE":
        return forbidden(f'pod does not have "kubernetes.io/config.mirror" annotation, node "{node}" can only '
                         "create mirror pods")
    if operation != "DELETE":
        return forbidden(f'unexpected operation "{operation}", node "{node}" can only create and delete mirror pods')
    if not isinstance(old, core_pb2.Pod) or old.spec.node_name != node:
        return forbidden(f'node "{node}" can only delete pods with spec.nodeName set to itself')
    graceful_started = old.metadata.HasField("deletion_timestamp")
    grace_zero = options is not None and options.HasField("grace_period_seconds") and options.grace_period_seconds == 0
    if not (graceful_started and grace_zero):
        return forbidden(f'node "{node}" can only confirm the deletion of its pods (a delete with grace period 0 '
                         "once the pod's deletion has started)")
    return None


def _admit_node(node: str, name: str, operation: str, old: Message | None, new: Message | None,
                forbidden: Callable[[str], str]) -> str | None:
    if name != node:
        return forbidden(f'node "{node}" is not allowed to modify node "{name}"')
    if operation == "CREATE" and isinstance(new, core_pb2.Node):
        labels = forbidden_labels(dict(new.metadata.labels), {})
        if labels:
            return forbidden(f'node "{node}" is not allowed to set the following labels: {", ".join(labels)}')
    if operation == "UPDATE" and isinstance(new, core_pb2.Node) and isinstance(old, core_pb2.Node):
        if list(new.spec.taints) != list(old.spec.taints):
            return forbidden(f'node "{node}" is not allowed to modify taints')
        labels = forbidden_labels(dict(new.metadata.labels), dict(old.metadata.labels))
        if labels:
            return forbidden(f"is not allowed to modify labels: {', '.join(labels)}")
    return None  # deleting its own Node: the authorizer's business (system:node has no such rule)
