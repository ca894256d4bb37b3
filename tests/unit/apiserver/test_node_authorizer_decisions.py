"""What a kubelet may do: the Node authorizer and NodeRestriction (apiserver/auth/node.py),
alone and in the apiserver's chain (Node, then RBAC with the bootstrap policy)."""

from __future__ import annotations

import pytest

from apimachinery.convert import from_dict
from apimachinery.identity import UserInfo
from apiserver.auth.attributes import Attributes, attributes_for, batch_op_attributes, forbidden_message
from apiserver.auth.authorizer import UnionAuthorizer, ensure_bootstrap_policy, new_authorizer
from apiserver.auth.bootstrap import policy
from apiserver.auth.node import NodeAuthorizer, NodeRestriction, forbidden_labels, node_identity
from apiserver.auth.rbac import RBACAuthorizer
from apiserver.registry.registry import Registry
from apiserver.storage.memory import MemoryStore
from apiserver.watchcache import WatchCache
from protos import api_pb2, coordination_pb2, core_pb2, meta_pb2

N1 = UserInfo("system:node:n1", ("system:nodes", "system:authenticated"))
PODS = {("default", "on-n1"): "n1", ("default", "on-n2"): "n2", ("default", "pending"): ""}


def pod_node(namespace: str, name: str) -> str | None:
    return PODS.get((namespace, name))


@pytest.fixture
def authz() -> UnionAuthorizer:
    return UnionAuthorizer(NodeAuthorizer(pod_node), RBACAuthorizer(policy()))


def attrs(verb: str, resource: str, name: str = "", namespace: str = "", sub: str = "", group: str = "",
          user: UserInfo = N1) -> Attributes:
    return Attributes(user, verb, group, resource, sub, namespace, name)


def pod(name: str, node: str, deleting: bool = False, **labels: str) -> core_pb2.Pod:
    p = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace="default", labels=labels))
    p.spec.node_name = node
    if deleting:
        p.metadata.deletion_timestamp.seconds = 1_700_000_000
        p.metadata.deletion_grace_period_seconds = 30
    return p


def node(name: str, taints: tuple[str, ...] = (), **labels: str) -> core_pb2.Node:
    n = core_pb2.Node(metadata=meta_pb2.ObjectMeta(name=name, labels=labels))
    for key in taints:
        n.spec.taints.add(key=key, effect="NoSchedule")
    return n


def test_node_identity() -> None:
    assert node_identity(N1) == "n1"
    assert node_identity(UserInfo("system:node:n1")) is None  # the group says it is a node
    assert node_identity(UserInfo("bob", ("system:nodes",))) == ""


def test_an_unidentifiable_node_is_refused(authz: UnionAuthorizer) -> None:
    decision = authz.authorize(attrs("get", "pods", "x", "default", user=UserInfo("bob", ("system:nodes",))))
    assert not decision.allowed and decision.reason == 'unknown node for user "bob"'


def test_a_kubelet_reads_what_it_and_its_proxy_need(authz: UnionAuthorizer) -> None:
    watch_pods = api_pb2.WatchRequest(kind="Pod", field_selector="spec.nodeName=n1")
    watch_node = api_pb2.WatchRequest(kind="Node", field_selector="metadata.name=n1")
    for request, method in ((watch_pods, "WatchBatches"), (watch_node, "WatchBatches")):
        assert authz.authorize(attributes_for(method, request, N1)[0]).allowed
    for verb, resource, group in (("get", "nodes", ""), ("list", "services", ""),
                                  ("watch", "endpointslices", "discovery.k8s.io")):
        assert authz.authorize(attrs(verb, resource, group=group)).allowed
    assert not authz.authorize(attrs("list", "deployments", group="apps")).allowed
    assert not authz.authorize(attrs("list", "rolebindings", group="rbac.authorization.k8s.io")).allowed


# ------------------------------------------------------------------- pods


def test_kubelet_n1_cannot_update_pod_status_on_n2(authz: UnionAuthorizer) -> None:
    request = api_pb2.UpdateRequest(object=api_pb2.Object(pod=pod("on-n2", "n2")))
    denied_attrs = attributes_for("UpdateStatus", request, N1)[0]
    decision = authz.authorize(denied_attrs)
    assert not decision.allowed
    assert forbidden_message(denied_attrs, decision.reason) == (
        'pods "on-n2" is forbidden: User "system:node:n1" cannot update resource "pods/status" in API group "" '
        "in the namespace \"default\": no relationship found between node 'n1' and this object")
    own = attributes_for("UpdateStatus", api_pb2.UpdateRequest(object=api_pb2.Object(pod=pod("on-n1", "n1"))), N1)
    assert authz.authorize(own[0]).allowed
    assert not authz.authorize(attrs("update", "pods", "pending", "default", "status")).allowed
    # a Pod that is gone: the call answers NotFound (which the kubelet's status manager expects)
    assert authz.authorize(attrs("update", "pods", "gone", "default", "status")).allowed


def test_status_updates_in_a_batch_are_judged_per_pod(authz: UnionAuthorizer) -> None:
    ops = [api_pb2.BatchOp(update_status=api_pb2.UpdateRequest(object=api_pb2.Object(pod=pod(name, node))))
           for name, node in (("on-n1", "n1"), ("on-n2", "n2"))]
    assert [authz.authorize(batch_op_attributes(op, N1)[0]).allowed for op in ops] == [True, False]


def test_node_restriction_checks_the_stored_pod_for_status() -> None:
    update = attrs("update", "pods", "on-n2", "default", "status")
    assert NodeRestriction.admit(update, pod("on-n2", "n2"), pod("on-n2", "n2")) == (
        'pods "on-n2" is forbidden: node "n1" can only update pod status for pods with spec.nodeName set to itself')
    own = attrs("update", "pods", "on-n1", "default", "status")
    assert NodeRestriction.admit(own, pod("on-n1", "n1"), pod("on-n1", "n1")) is None
    assert "cannot update labels through pod status" in NodeRestriction.admit(
        own, pod("on-n1", "n1"), pod("on-n1", "n1", tier="gold"))


def test_kubelet_cannot_delete_a_pod(authz: UnionAuthorizer) -> None:
    other = attrs("delete", "pods", "on-n2", "default")
    assert not authz.authorize(other).allowed
    own = attrs("delete", "pods", "on-n1", "default")
    assert authz.authorize(own).allowed  # its own: left to NodeRestriction, which sees the object
    running = pod("on-n1", "n1")
    assert NodeRestriction.admit(own, running, None, api_pb2.DeleteRequest(grace_period_seconds=0)) == (
        'pods "on-n1" is forbidden: node "n1" can only confirm the deletion of its pods (a delete with grace '
        "period 0 once the pod's deletion has started)")
    assert NodeRestriction.admit(own, running, None, api_pb2.DeleteRequest()) is not None
    assert NodeRestriction.admit(other, pod("on-n2", "n2", deleting=True), None,
                                 api_pb2.DeleteRequest(grace_period_seconds=0)) == (
        'pods "on-n2" is forbidden: node "n1" can only delete pods with spec.nodeName set to itself')


def test_kubelet_confirms_the_graceful_deletion_of_its_own_pod() -> None:
    """What kubelet.confirm_deletion sends: grace 0, uid precondition, after deletion began."""
    own = attrs("delete", "pods", "on-n1", "default")
    confirm = api_pb2.DeleteRequest(kind="Pod", namespace="default", name="on-n1", grace_period_seconds=0,
                                    preconditions=api_pb2.Preconditions(uid="u1"))
    assert NodeRestriction.admit(own, pod("on-n1", "n1", deleting=True), None, confirm) is None
    assert NodeRestriction.admit(own, pod("on-n1", "n1", deleting=True), None,
                                 api_pb2.DeleteRequest(grace_period_seconds=5)) is not None


def test_kubelet_cannot_bind_create_or_rewrite_pods(authz: UnionAuthorizer) -> None:
    bind = attributes_for("Bind", api_pb2.BindRequest(namespace="default", name="pending", node_name="n1"), N1)[0]
    decision = authz.authorize(bind)
    assert not decision.allowed
    assert forbidden_message(bind, decision.reason) == (
        'pods "pending" is forbidden: User "system:node:n1" cannot create resource "pods/binding" in API group "" '
        'in the namespace "default"')
    for denied in (attrs("create", "pods", namespace="default"), attrs("update", "pods", "on-n1", "default"),
                   attrs("create", "pods", "on-n1", "default", "exec"), attrs("get", "pods", "on-n1", "default", "log")):
        assert not authz.authorize(denied).allowed, denied
    assert "can only create mirror pods" in NodeRestriction.admit(
        attrs("create", "pods", namespace="default"), None, pod("x", "n1"))
    assert "only 'status' and 'eviction' are allowed" in NodeRestriction.admit(bind, None, None)


# ------------------------------------------------------------------- nodes


def test_kubelet_n1_cannot_update_node_n2(authz: UnionAuthorizer) -> None:
    for sub in ("", "status"):
        other = attributes_for("UpdateStatus" if sub else "Update", api_pb2.UpdateRequest(
            object=api_pb2.Object(node=node("n2"))), N1)[0]
        decision = authz.authorize(other)
        assert not decision.allowed
        assert forbidden_message(other, decision.reason) == (
            f'nodes "n2" is forbidden: User "system:node:n1" cannot update resource "nodes{"/" + sub if sub else ""}" '
            'in API group "" at the cluster scope: node "n1" is not allowed to modify node "n2"')
        assert authz.authorize(attrs("update", "nodes", "n1", sub=sub)).allowed
    assert not authz.authorize(attrs("delete", "nodes", "n2")).allowed
    assert not authz.authorize(attrs("delete", "nodes", "n1")).allowed
    assert NodeRestriction.admit(attrs("update", "nodes", "n2"), node("n2"), node("n2")) == (
        'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"')


def test_kubelet_registers_only_itself() -> None:
    create = attrs("create", "nodes")
    assert NodeRestriction.admit(create, None, node("n1", **{"kubernetes.io/hostname": "n1"})) is None
    assert NodeRestriction.admit(create, None, node("n2")) == (
        'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"')


def test_labels_that_steer_workloads_are_refused() -> None:
    create = attrs("create", "nodes")
    message = NodeRestriction.admit(create, None, node("n1", **{"node-restriction.kubernetes.io/secure": "yes",
                                                                "node-role.kubernetes.io/control-plane": ""}))
    assert message == ('nodes "n1" is forbidden: node "n1" is not allowed to set the following labels: '
                       "node-restriction.kubernetes.io/secure, node-role.kubernetes.io/control-plane")
    update = attrs("update", "nodes", "n1")
    old = node("n1", **{"kubernetes.io/hostname": "n1", "node-role.kubernetes.io/worker": ""})
    assert NodeRestriction.admit(update, old, node("n1", **{"kubernetes.io/hostname": "n1"})) == (
        'nodes "n1" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/worker')
    relabelled = node("n1", **{"kubernetes.io/hostname": "n1", "node-role.kubernetes.io/worker": "",
                               "tier": "fast", "kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "x"})
    assert NodeRestriction.admit(update, old, relabelled) is None  # its own kubelet labels and plain ones
    assert forbidden_labels({"a.node-restriction.kubernetes.io/x": "1", "example.k8s.io/y": "2"}, {}) == [
        "a.node-restriction.kubernetes.io/x", "example.k8s.io/y"]


def test_a_node_cannot_change_its_taints() -> None:
    update = attrs("update", "nodes", "n1")
    message = NodeRestriction.admit(update, node("n1", taints=("node.kubernetes.io/not-ready",)), node("n1"))
    assert message == 'nodes "n1" is forbidden: node "n1" is not allowed to modify taints'


# ------------------------------------------------------------------ leases, events


def test_kubelet_writes_only_its_own_lease(authz: UnionAuthorizer) -> None:
    lease = dict(group="coordination.k8s.io", namespace="kube-node-lease")
    assert authz.authorize(attrs("get", "leases", "n1", **lease)).allowed
    assert authz.authorize(attrs("update", "leases", "n1", **lease)).allowed
    assert authz.authorize(attrs("create", "leases", **lease)).allowed  # the name: NodeRestriction's check
    other = authz.authorize(attrs("update", "leases", "n2", **lease))
    assert not other.allowed and other.reason == "can only access node lease with the same name as the requesting node"
    elsewhere = authz.authorize(attrs("get", "leases", "n1", "kube-system", group="coordination.k8s.io"))
    assert elsewhere.reason == 'can only access leases in the "kube-node-lease" system namespace'
    assert not authz.authorize(attrs("list", "leases", **lease)).allowed
    forged = coordination_pb2.Lease(metadata=meta_pb2.ObjectMeta(name="n2", namespace="kube-node-lease"))
    assert NodeRestriction.admit(attrs("create", "leases", **lease), None, forged) == (
        'leases.coordination.k8s.io "n2" is forbidden: can only access node lease with the same name as the '
        "requesting node")


def test_kubelet_records_events(authz: UnionAuthorizer) -> None:
    assert authz.authorize(attrs("create", "events", namespace="default")).allowed
    assert authz.authorize(attrs("update", "events", "web.123", "default")).allowed
    assert not authz.authorize(attrs("delete", "events", "web.123", "default")).allowed


def test_node_restriction_ignores_others_and_reads() -> None:
    alice = UserInfo("alice")
    assert NodeRestriction.admit(attrs("update", "nodes", "n2", user=alice), node("n2"), node("n2")) is None
    assert NodeRestriction.admit(attrs("get", "nodes", "n2"), None, None) is None


def test_the_chain_over_a_live_registry() -> None:
    """new_authorizer: RBAC fed by the watch cache, the Node authorizer's Pod lookup from it."""
    cache = WatchCache()
    registry = Registry(MemoryStore(), cache)
    authz, rbac = new_authorizer(cache)
    scheduler = UserInfo("system:kube-scheduler", ("system:authenticated",))
    bind = Attributes(scheduler, "create", "", "pods", "binding", "default", "web")
    assert not authz.authorize(bind).allowed
    ensure_bootstrap_policy(registry)
    assert authz.authorize(bind).allowed
    registry.create(from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                               "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]}}))
    assert authz.authorize(attrs("update", "pods", "web", "default", "status")).allowed
    n2 = UserInfo("system:node:n2", ("system:nodes",))
    assert not authz.authorize(attrs("update", "pods", "web", "default", "status", user=n2)).allowed
    registry.delete("ClusterRoleBinding", "", "system:kube-scheduler")
    assert not authz.authorize(bind).allowed
