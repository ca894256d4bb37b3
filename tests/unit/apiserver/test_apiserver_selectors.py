"""List with label and field selectors through the gRPC API."""

from __future__ import annotations

import grpc
import pytest

from apiserver_testlib import create, list_names, namespace, node, obj_of, pod, revision, rpc_error, update_status
from protos import api_pb2


@pytest.fixture
def pods(stub):
    create(stub, pod("p1", labels={"app": "web", "env": "prod"}))
    create(stub, pod("p2", labels={"app": "web", "env": "qa", "legacy": "yes"}))
    create(stub, pod("p3", labels={"app": "db", "env": "dev"}))
    create(stub, pod("p4"))
    stub.Bind(api_pb2.BindRequest(name="p1", node_name="n1"))
    stub.Bind(api_pb2.BindRequest(name="p3", node_name="n2"))
    p2 = obj_of(stub.Get(api_pb2.GetRequest(kind="Pod", name="p2")))
    p2.status.phase = "Running"
    update_status(stub, p2)
    return stub


@pytest.mark.parametrize("selector, expected", [
    ("", ["p1", "p2", "p3", "p4"]),
    ("app=web", ["p1", "p2"]),
    ("app==web", ["p1", "p2"]),
    ("app!=web", ["p3", "p4"]),  # a missing label is "not equal"
    ("env in (prod,qa)", ["p1", "p2"]),
    ("env in (prod, dev)", ["p1", "p3"]),
    ("env notin (prod)", ["p2", "p3", "p4"]),
    ("legacy", ["p2"]),
    ("!legacy", ["p1", "p3", "p4"]),
    ("app", ["p1", "p2", "p3"]),
    ("app=web,!legacy", ["p1"]),
    ("app=web,env in (qa,dev)", ["p2"]),
    ("app in (web,db),env notin (qa,dev)", ["p1"]),
    ("app=nothing", []),
])
def test_label_selectors(pods, selector: str, expected: list[str]) -> None:
    assert list_names(pods, "Pod", labels=selector) == expected


@pytest.mark.parametrize("selector, expected", [
    ("spec.nodeName=n1", ["p1"]),
    ("spec.nodeName==n2", ["p3"]),
    ("spec.nodeName=", ["p2", "p4"]),  # unscheduled
    ("spec.nodeName!=", ["p1", "p3"]),
    ("metadata.name!=p1", ["p2", "p3", "p4"]),
    ("metadata.name=p4", ["p4"]),
    ("metadata.namespace=default", ["p1", "p2", "p3", "p4"]),
    ("status.phase=Pending", ["p1", "p3", "p4"]),
    ("status.phase=Running", ["p2"]),
    ("status.phase!=Running,spec.nodeName!=", ["p1", "p3"]),
])
def test_field_selectors(pods, selector: str, expected: list[str]) -> None:
    assert list_names(pods, "Pod", fields=selector) == expected


def test_label_and_field_selectors_combine(pods) -> None:
    assert list_names(pods, "Pod", labels="app=web", fields="status.phase=Pending") == ["p1"]
    assert list_names(pods, "Pod", labels="app=web", fields="spec.nodeName=n2") == []


def test_selectors_with_namespace(stub) -> None:
    create(stub, namespace("team-a"))
    create(stub, pod("a", labels={"app": "web"}))
    create(stub, pod("b", namespace="team-a", labels={"app": "web"}))
    assert list_names(stub, "Pod", labels="app=web") == ["a", "b"]
    assert list_names(stub, "Pod", "team-a", labels="app=web") == ["b"]
    assert list_names(stub, "Pod", fields="metadata.namespace=team-a") == ["b"]


def test_field_selectors_on_other_kinds(stub) -> None:
    create(stub, node("n1"))
    unschedulable = node("n2")
    unschedulable.node.spec.unschedulable = True
    create(stub, unschedulable)
    assert list_names(stub, "Node", fields="spec.unschedulable=true") == ["n2"]
    assert list_names(stub, "Node", fields="spec.unschedulable=false") == ["n1"]
    assert list_names(stub, "Namespace", fields="status.phase=Active") == [
        "default", "kube-node-lease", "kube-public", "kube-system"]


@pytest.mark.parametrize("kind, selector, field", [
    ("Pod", "spec.image=nginx", "spec.image"),
    ("Pod", "metadata.labels=x", "metadata.labels"),
    ("Deployment", "spec.replicas=1", "spec.replicas"),
    ("Node", "status.phase=Ready", "status.phase"),
])
def test_unsupported_field_selector_is_invalid_argument(pods, kind: str, selector: str, field: str) -> None:
    err = rpc_error(lambda: pods.List(api_pb2.ListRequest(kind=kind, field_selector=selector)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f'"{field}"' in err.details()
    assert "not supported" in err.details()


@pytest.mark.parametrize("selector", ["app in (a", "!app in (a)", "a b c", "=x"])
def test_malformed_label_selector_is_invalid_argument(pods, selector: str) -> None:
    err = rpc_error(lambda: pods.List(api_pb2.ListRequest(kind="Pod", label_selector=selector)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unable to parse requirement" in err.details()


def test_malformed_field_selector_is_invalid_argument(pods) -> None:
    err = rpc_error(lambda: pods.List(api_pb2.ListRequest(kind="Pod", field_selector="spec.nodeName")))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "invalid field selector" in err.details()


def test_list_resource_version_is_the_current_revision(stub) -> None:
    p = create(stub, pod("p"))
    listed = stub.List(api_pb2.ListRequest(kind="Pod"))
    assert listed.resource_version == p.metadata.resource_version
    # A write to another kind moves every list's revision: it is the store's.
    n = create(stub, node("n1"))
    for kind in ("Pod", "Deployment", "Node"):
        assert stub.List(api_pb2.ListRequest(kind=kind)).resource_version == n.metadata.resource_version
    # Also with a selector that matches nothing.
    empty = stub.List(api_pb2.ListRequest(kind="Pod", label_selector="none=here"))
    assert list(empty.items) == []
    assert int(empty.resource_version) == revision(stub)
