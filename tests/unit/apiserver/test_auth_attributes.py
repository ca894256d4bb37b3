"""Every pykube API call mapped to Kubernetes' authorization attributes, and the
wording of a denial (apiserver/auth/attributes.py)."""

from __future__ import annotations

import pytest

from apimachinery.identity import UserInfo
from apimachinery.kinds import wrap
from apiserver.auth.attributes import (Attributes, UnmappedCallError, attributes_for, batch_op_attributes,
                                       forbidden_message)
from protos import api_pb2, apps_pb2, coordination_pb2, core_pb2, kubelet_pb2, meta_pb2, rbac_pb2

ALICE = UserInfo("alice", ("devs", "system:authenticated"))


def a(verb: str, group: str, resource: str, sub: str = "", namespace: str = "", name: str = "") -> Attributes:
    return Attributes(ALICE, verb, group, resource, sub, namespace, name)


def pod(name: str = "web", namespace: str = "") -> api_pb2.Object:
    return wrap(core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace=namespace)))


def deployment(name: str = "web", namespace: str = "dev") -> api_pb2.Object:
    return wrap(apps_pb2.Deployment(metadata=meta_pb2.ObjectMeta(name=name, namespace=namespace)))


def one(method: str, request, **kw) -> Attributes:
    found = attributes_for(method, request, ALICE, **kw)
    assert len(found) == 1, found
    return found[0]


# ------------------------------------------------------------------ per call


def test_create_has_no_name_so_resource_names_cannot_restrict_it() -> None:
    assert one("Create", api_pb2.CreateRequest(object=deployment())) == a("create", "apps", "deployments", namespace="dev")
    assert one("Create", api_pb2.CreateRequest(object=pod())) == a("create", "", "pods", namespace="default")
    lease = wrap(coordination_pb2.Lease(metadata=meta_pb2.ObjectMeta(name="n1", namespace="kube-node-lease")))
    assert one("Create", api_pb2.CreateRequest(object=lease)) == a("create", "coordination.k8s.io", "leases",
                                                                   namespace="kube-node-lease")


def test_get_update_delete_name_the_object() -> None:
    assert one("Get", api_pb2.GetRequest(kind="Pod", name="web")) == a("get", "", "pods", namespace="default",
                                                                       name="web")
    assert one("Update", api_pb2.UpdateRequest(object=deployment())) == a("update", "apps", "deployments",
                                                                          namespace="dev", name="web")
    assert one("Delete", api_pb2.DeleteRequest(kind="Deployment", namespace="dev", name="web")) == a(
        "delete", "apps", "deployments", namespace="dev", name="web")


def test_cluster_scoped_kinds_have_no_namespace() -> None:
    assert one("Get", api_pb2.GetRequest(kind="Node", namespace="dev", name="n1")) == a("get", "", "nodes", name="n1")
    crb = wrap(rbac_pb2.ClusterRoleBinding(metadata=meta_pb2.ObjectMeta(name="x")))
    assert one("Update", api_pb2.UpdateRequest(object=crb)) == a("update", "rbac.authorization.k8s.io",
                                                                 "clusterrolebindings", name="x")


def test_update_status_is_the_status_subresource() -> None:
    request = api_pb2.UpdateRequest(object=pod("web", "dev"))
    assert one("UpdateStatus", request) == a("update", "", "pods", "status", "dev", "web")


def test_list_and_watch_are_cluster_wide_without_a_namespace() -> None:
    assert one("List", api_pb2.ListRequest(kind="Pod")) == a("list", "", "pods")
    assert one("List", api_pb2.ListRequest(kind="Pod", namespace="dev")) == a("list", "", "pods", namespace="dev")
    for method in ("Watch", "WatchBatches"):
        assert one(method, api_pb2.WatchRequest(kind="Deployment", namespace="dev")) == a(
            "watch", "apps", "deployments", namespace="dev")


def test_a_name_field_selector_names_the_object() -> None:
    """As Kubernetes' RequestInfo: a kubelet watching its own Node is a watch of that name."""
    request = api_pb2.WatchRequest(kind="Node", field_selector="metadata.name=n1")
    assert one("Watch", request) == a("watch", "", "nodes", name="n1")
    request = api_pb2.ListRequest(kind="Pod", field_selector="spec.nodeName=n1")
    assert one("List", request).name == ""
    assert one("List", api_pb2.ListRequest(kind="Pod", field_selector="metadata.name!=x")).name == ""
    assert one("List", api_pb2.ListRequest(kind="Pod", field_selector="nonsense")).name == ""


def test_bind_logs_exec_port_forward_are_pod_subresources() -> None:
    assert one("Bind", api_pb2.BindRequest(namespace="dev", name="web", node_name="n1")) == a(
        "create", "", "pods", "binding", "dev", "web")
    assert one("Logs", kubelet_pb2.LogsRequest(namespace="dev", pod="web")) == a("get", "", "pods", "log", "dev", "web")
    start = kubelet_pb2.ExecInput(start=kubelet_pb2.ExecStart(pod="web", command=["sh"]))
    assert one("Exec", start) == a("create", "", "pods", "exec", "default", "web")
    forward = kubelet_pb2.PortForwardInput(start=kubelet_pb2.PortForwardStart(namespace="dev", pod="web", port=80))
    assert one("PortForward", forward) == a("create", "", "pods", "portforward", "dev", "web")
    with pytest.raises(UnmappedCallError):
        attributes_for("Exec", kubelet_pb2.ExecInput(stdin=b"x"), ALICE)


def test_version_and_discovery_are_non_resource_requests() -> None:
    version = one("Version", api_pb2.VersionRequest())
    assert version == Attributes(ALICE, "get", "", "", path="/version") and not version.is_resource_request
    assert one("Discovery", api_pb2.DiscoveryRequest()).path == "/apis"


def test_full_grpc_method_names_and_unknown_calls() -> None:
    assert one("/pykube.v1.API/Get", api_pb2.GetRequest(kind="Pod", name="x")).verb == "get"
    with pytest.raises(UnmappedCallError):
        attributes_for("/pykube.v1.API/Teleport", api_pb2.GetRequest(), ALICE)


def test_unknown_kinds_and_empty_objects_still_get_attributes() -> None:
    assert one("Get", api_pb2.GetRequest(kind="Widget", name="w")) == a("get", "", "widget", name="w")
    assert one("Create", api_pb2.CreateRequest()) == a("create", "", "")


def test_apply_is_patch_of_existing_and_create_of_new_objects() -> None:
    request = api_pb2.ApplyRequest(objects=[deployment("old"), deployment("new")])
    stored = {("Deployment", "dev", "old")}
    found = attributes_for("Apply", request, ALICE, exists=lambda kind, ns, name: (kind, ns, name) in stored)
    assert found == [a("patch", "apps", "deployments", namespace="dev", name="old"),
                     a("create", "apps", "deployments", namespace="dev")]
    both = attributes_for("Apply", api_pb2.ApplyRequest(objects=[deployment("x")]), ALICE)
    assert [x.verb for x in both] == ["patch", "create"]  # unknown existence: allowed either way


def test_batch_maps_each_op_as_its_own_call() -> None:
    ops = [api_pb2.BatchOp(create=api_pb2.CreateRequest(object=pod("a", "dev"))),
           api_pb2.BatchOp(update=api_pb2.UpdateRequest(object=pod("b", "dev"))),
           api_pb2.BatchOp(update_status=api_pb2.UpdateRequest(object=pod("c", "dev"))),
           api_pb2.BatchOp(delete=api_pb2.DeleteRequest(kind="Pod", namespace="dev", name="d")),
           api_pb2.BatchOp(bind=api_pb2.BindRequest(namespace="dev", name="e", node_name="n1")),
           api_pb2.BatchOp()]
    per_op = [batch_op_attributes(op, ALICE) for op in ops]
    assert per_op == [[a("create", "", "pods", namespace="dev")], [a("update", "", "pods", namespace="dev", name="b")],
                      [a("update", "", "pods", "status", "dev", "c")], [a("delete", "", "pods", namespace="dev", name="d")],
                      [a("create", "", "pods", "binding", "dev", "e")], []]
    assert attributes_for("Batch", api_pb2.BatchRequest(ops=ops), ALICE) == [x for op in per_op for x in op]


# ------------------------------------------------------------------ wording


def test_forbidden_messages_use_kubernetes_wording() -> None:
    assert forbidden_message(a("get", "", "pods", namespace="default", name="x")) == (
        'pods "x" is forbidden: User "alice" cannot get resource "pods" in API group "" in the namespace "default"')
    assert forbidden_message(a("list", "", "pods", namespace="default")) == (
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"')
    node = Attributes(UserInfo("system:node:n1", ("system:nodes",)), "list", "", "nodes")
    assert forbidden_message(node) == (
        'nodes is forbidden: User "system:node:n1" cannot list resource "nodes" in API group "" at the cluster scope')
    assert forbidden_message(a("create", "", "pods", "binding", "default", "web")) == (
        'pods "web" is forbidden: User "alice" cannot create resource "pods/binding" in API group "" '
        'in the namespace "default"')
    assert forbidden_message(a("delete", "apps", "deployments", namespace="dev", name="web")) == (
        'deployments.apps "web" is forbidden: User "alice" cannot delete resource "deployments" '
        'in API group "apps" in the namespace "dev"')
    assert forbidden_message(Attributes(ALICE, "get", "", "", path="/version")) == (
        'forbidden: User "alice" cannot get path "/version"')


def test_a_reason_follows_the_message() -> None:
    attrs = a("update", "", "pods", "status", "default", "web")
    assert forbidden_message(attrs, "no relationship found between node 'n1' and this object").endswith(
        'in the namespace "default": no relationship found between node \'n1\' and this object')
