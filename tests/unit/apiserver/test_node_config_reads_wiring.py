"""A kubelet's watch-based ConfigMap cache against a real in-process apiserver with Node,RBAC:
list and watch of one ConfigMap by ``metadata.name`` in its namespace are allowed while a Pod
bound to the node refers to it; a list of the collection, or of an object no Pod of the node
refers to, is refused (PERMISSION_DENIED, Kubernetes' words)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from apimachinery.convert import from_dict
from apimachinery.kinds import unwrap, wrap
from apiserver_testlib import HeaderAuthenticator, rpc_error
from protos import api_pb2

ADMIN = [("x-user", "admin|system:masters")]
N1 = [("x-user", "system:node:n1|system:nodes")]


@pytest.fixture
def server(server_factory: Any) -> Any:
    server = server_factory(authenticator=HeaderAuthenticator(), authorization_mode="Node,RBAC")
    for manifest in (
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "namespace": "default"},
             "data": {"mode": "fast"}},
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other", "namespace": "default"}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default"},
             "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}],
                      "volumes": [{"name": "v", "configMap": {"name": "app"}}]}}):
        server.stub.Create(api_pb2.CreateRequest(object=wrap(from_dict(manifest))), metadata=ADMIN)
    return server


def _list(stub: Any, selector: str, namespace: str = "default") -> Any:
    return stub.List(api_pb2.ListRequest(kind="ConfigMap", namespace=namespace, field_selector=selector), metadata=N1)


def test_kubelet_lists_and_watches_the_one_config_map_its_pod_uses(server: Any) -> None:
    stub = server.stub
    listed = _list(stub, "metadata.name=app")
    assert [unwrap(o).metadata.name for o in listed.items] == ["app"]
    call = stub.WatchBatches(api_pb2.WatchRequest(kind="ConfigMap", namespace="default",
                                                  field_selector="metadata.name=app",
                                                  resource_version=listed.resource_version), metadata=N1, timeout=10)
    cm = unwrap(listed.items[0])
    cm.data["mode"] = "slow"
    stub.Update(api_pb2.UpdateRequest(object=wrap(cm)), metadata=ADMIN)
    event = api_pb2.WatchEvent.FromString(next(iter(call)).events[0])
    assert event.type == "MODIFIED" and unwrap(event.object).data["mode"] == "slow"
    call.cancel()


@pytest.mark.parametrize("selector,namespace,reason", [
    ("", "default", "No Object name found"),
    ("metadata.name=other", "default", "no relationship found between node 'n1' and this object"),
    ("metadata.name=app", "", "can only read namespaced object of this type"),
])
def test_anything_broader_is_refused(server: Any, selector: str, namespace: str, reason: str) -> None:
    err = rpc_error(lambda: _list(server.stub, selector, namespace))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert err.details().endswith(reason), err.details()
    watch = server.stub.WatchBatches(api_pb2.WatchRequest(kind="ConfigMap", namespace=namespace,
                                                          field_selector=selector), metadata=N1, timeout=10)
    err = rpc_error(lambda: next(iter(watch)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
