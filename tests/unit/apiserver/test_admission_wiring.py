"""Admission in a real in-process apiserver with Node,RBAC: the user the filter chain
authenticated reaches the registry, where NodeRestriction and RBAC's escalation checks
refuse writes (PERMISSION_DENIED, Kubernetes' messages) before anything is stored — also
inside Batch and Apply. Callers are named by an ``x-user`` header (see test_filters_chain)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from apimachinery.convert import from_dict
from apimachinery.kinds import wrap
from apiserver_testlib import HeaderAuthenticator, namespace, node, obj_of, pod, rpc_error
from protos import api_pb2

RBAC = "rbac.authorization.k8s.io"


ADMIN = [("x-user", "admin|system:masters")]
N1 = [("x-user", "system:node:n1|system:nodes")]
BOB = [("x-user", "bob")]


@pytest.fixture
def server(server_factory: Any) -> Any:
    server = server_factory(authenticator=HeaderAuthenticator(), authorization_mode="Node,RBAC")
    server.stub.Create(api_pb2.CreateRequest(object=namespace("dev")), metadata=ADMIN)
    return server


def _obj(manifest: dict) -> api_pb2.Object:
    return wrap(from_dict(manifest))


def _get(stub: Any, kind: str, name: str, ns: str = "") -> Any:
    return obj_of(stub.Get(api_pb2.GetRequest(kind=kind, namespace=ns, name=name), metadata=ADMIN))


def _denied(call: Any) -> str:
    err = rpc_error(call)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED, err
    return err.details()


# ------------------------------------------------------------------ NodeRestriction


def test_a_kubelet_cannot_label_its_own_node_to_steer_workloads(server: Any) -> None:
    stub = server.stub
    stub.Create(api_pb2.CreateRequest(object=node("n1")), metadata=N1)
    own = _get(stub, "Node", "n1")
    own.metadata.labels["node-restriction.kubernetes.io/fast"] = "true"
    message = _denied(lambda: stub.Update(api_pb2.UpdateRequest(object=wrap(own)), metadata=N1))
    assert message == 'nodes "n1" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/fast'
    assert "node-restriction.kubernetes.io/fast" not in _get(stub, "Node", "n1").metadata.labels
    # Nor through Apply or a Batch op; a label of its own is fine.
    manifest = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": ""}}}
    message = _denied(lambda: stub.Apply(api_pb2.ApplyRequest(objects=[_obj(manifest)]), metadata=N1))
    assert "node-role.kubernetes.io/control-plane" in message
    answer = stub.Batch(api_pb2.BatchRequest(ops=[api_pb2.BatchOp(update=api_pb2.UpdateRequest(object=wrap(own)))]),
                        metadata=N1)
    assert answer.results[0].code == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert "is not allowed to modify labels" in answer.results[0].message
    assert "node-restriction.kubernetes.io/fast" not in _get(stub, "Node", "n1").metadata.labels
    mine = _get(stub, "Node", "n1")
    mine.metadata.labels["example.com/disk"] = "ssd"
    stub.Update(api_pb2.UpdateRequest(object=wrap(mine)), metadata=N1)
    mine = _get(stub, "Node", "n1")
    mine.spec.taints.add(key="dedicated", value="me", effect="NoSchedule")
    assert _denied(lambda: stub.Update(api_pb2.UpdateRequest(object=wrap(mine)), metadata=N1)).endswith(
        'node "n1" is not allowed to modify taints')


def test_a_kubelet_cannot_register_with_a_forbidden_label(server: Any) -> None:
    labelled = _obj({"apiVersion": "v1", "kind": "Node",
                     "metadata": {"name": "n1", "labels": {"node-restriction.kubernetes.io/x": "1"}}})
    message = _denied(lambda: server.stub.Create(api_pb2.CreateRequest(object=labelled), metadata=N1))
    assert message == ('nodes "n1" is forbidden: node "n1" is not allowed to set the following labels: '
                       'node-restriction.kubernetes.io/x')
    assert rpc_error(lambda: _get(server.stub, "Node", "n1")).code() == grpc.StatusCode.NOT_FOUND


def test_a_kubelet_only_confirms_deletions_of_its_pods(server: Any) -> None:
    stub = server.stub
    stub.Create(api_pb2.CreateRequest(object=pod("web", namespace="default")), metadata=ADMIN)
    stub.Bind(api_pb2.BindRequest(namespace="default", name="web", node_name="n1"), metadata=ADMIN)
    delete = api_pb2.DeleteRequest(kind="Pod", namespace="default", name="web", grace_period_seconds=0)
    message = _denied(lambda: stub.Delete(delete, metadata=N1))
    assert message.startswith('pods "web" is forbidden: node "n1" can only confirm the deletion of its pods')
    stub.Delete(api_pb2.DeleteRequest(kind="Pod", namespace="default", name="web"), metadata=ADMIN)  # graceful
    stub.Delete(delete, metadata=N1)
    assert rpc_error(lambda: _get(stub, "Pod", "web", "default")).code() == grpc.StatusCode.NOT_FOUND


# ------------------------------------------------------------------ RBAC escalation


def _let_bob_write_rbac_in_dev(stub: Any) -> None:
    stub.Create(api_pb2.CreateRequest(object=_obj({
        "apiVersion": f"{RBAC}/v1", "kind": "ClusterRole", "metadata": {"name": "rbac-writer"},
        "rules": [{"apiGroups": [RBAC], "resources": ["roles", "rolebindings"],
                   "verbs": ["get", "list", "create", "update", "delete"]},
                  {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]})), metadata=ADMIN)
    stub.Create(api_pb2.CreateRequest(object=_obj({
        "apiVersion": f"{RBAC}/v1", "kind": "RoleBinding", "metadata": {"name": "bob-writes", "namespace": "dev"},
        "subjects": [{"kind": "User", "name": "bob", "apiGroup": RBAC}],
        "roleRef": {"kind": "ClusterRole", "name": "rbac-writer", "apiGroup": RBAC}})), metadata=ADMIN)


def _binding(name: str, role_kind: str, role: str) -> api_pb2.Object:
    return _obj({"apiVersion": f"{RBAC}/v1", "kind": "RoleBinding", "metadata": {"name": name, "namespace": "dev"},
                 "subjects": [{"kind": "User", "name": "bob", "apiGroup": RBAC}],
                 "roleRef": {"kind": role_kind, "name": role, "apiGroup": RBAC}})


def test_a_user_who_may_write_rolebindings_cannot_bind_cluster_admin_to_himself(server: Any) -> None:
    stub = server.stub
    _let_bob_write_rbac_in_dev(stub)
    message = _denied(lambda: stub.Create(api_pb2.CreateRequest(object=_binding("mine", "ClusterRole",
                                                                                  "cluster-admin")), metadata=BOB))
    assert message.startswith(f'rolebindings.{RBAC} "mine" is forbidden: '
                              'user "bob" (groups=["system:authenticated"]) '
                              "is attempting to grant RBAC permissions not currently held:\\n"), message  # errors.bounded: one line
    listed = stub.List(api_pb2.ListRequest(kind="RoleBinding", namespace="dev"), metadata=ADMIN)
    assert [o.role_binding.metadata.name for o in listed.items] == ["bob-writes"]
    # Through Apply (every object planned before any is written) and Batch: refused the same way.
    fine = _binding("views", "ClusterRole", "system:basic-user")
    _denied(lambda: stub.Apply(api_pb2.ApplyRequest(objects=[fine, _binding("mine", "ClusterRole", "cluster-admin")]),
                               metadata=BOB))
    answer = stub.Batch(api_pb2.BatchRequest(ops=[api_pb2.BatchOp(create=api_pb2.CreateRequest(
        object=_binding("mine", "ClusterRole", "cluster-admin")))]), metadata=BOB)
    assert answer.results[0].code == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert len(stub.List(api_pb2.ListRequest(kind="RoleBinding", namespace="dev"), metadata=ADMIN).items) == 1
    # A Role holding only what bob holds, and a binding to it, are fine; more is not.
    reader = _obj({"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": "reader", "namespace": "dev"},
                   "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
    stub.Create(api_pb2.CreateRequest(object=reader), metadata=BOB)
    stub.Create(api_pb2.CreateRequest(object=_binding("reads", "Role", "reader")), metadata=BOB)
    deleter = _obj({"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": "deleter", "namespace": "dev"},
                    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]}]})
    message = _denied(lambda: stub.Create(api_pb2.CreateRequest(object=deleter), metadata=BOB))
    assert message.endswith('{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}'), message


def test_without_rbac_or_as_system_masters_nothing_changes(server_factory: Any, server: Any) -> None:
    # system:masters may bind anything.
    server.stub.Create(api_pb2.CreateRequest(object=_binding("root", "ClusterRole", "cluster-admin")),
                       metadata=ADMIN)
    # The plaintext server: every caller is system:unsecured in system:masters.
    plain = server_factory(data_dir=server.data_dir.parent / "plain")
    plain.stub.Create(api_pb2.CreateRequest(object=node("n1")))
    labelled = obj_of(plain.stub.Get(api_pb2.GetRequest(kind="Node", name="n1")))
    labelled.metadata.labels["node-restriction.kubernetes.io/x"] = "1"
    plain.stub.Update(api_pb2.UpdateRequest(object=wrap(labelled)))
