"""Hostile requests straight at the apiserver's gRPC API (no pykubectl to clean them up first):
oversized requests get Kubernetes' "Request entity too large", names that try to leave their
place get Kubernetes' key checks, log requests for containers outside the Pod are refused
before any kubelet is dialled, and none of them writes anything."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from apiserver_testlib import create, pod, rpc_error
from protos import api_pb2, api_pb2_grpc, kubelet_pb2

LIMIT = "Request entity too large: limit is 3145728"


def big_pod(name: str, megabytes: float) -> api_pb2.Object:
    obj = pod(name)  # the bytes in an env value (annotations have a 256 KiB limit of their own)
    obj.pod.spec.containers[0].env.add(name="BLOB", value="x" * int(megabytes * 1024 * 1024))
    return obj


def raw_stub(server: Any) -> api_pb2_grpc.APIStub:
    """A stub with no client-side cap, as a client other than pykube's could be."""
    channel = grpc.insecure_channel(server.address, options=[("grpc.max_send_message_length", -1)])
    server.channels.append(channel)
    return api_pb2_grpc.APIStub(channel)


@pytest.mark.parametrize("megabytes", [3.5, 5, 10])
def test_oversized_requests_get_kubernetes_words(server: Any, megabytes: float) -> None:
    stub = raw_stub(server)
    revision = server.server.registry.cache.revision
    for call in (lambda: stub.Create(api_pb2.CreateRequest(object=big_pod("big", megabytes)), timeout=30),
                 lambda: stub.Apply(api_pb2.ApplyRequest(objects=[big_pod("big", megabytes)]), timeout=30),
                 lambda: stub.Batch(api_pb2.BatchRequest(ops=[api_pb2.BatchOp(
                     create=api_pb2.CreateRequest(object=big_pod("big", megabytes)))]), timeout=30)):
        err = rpc_error(call)
        assert (err.code(), err.details()) == (grpc.StatusCode.RESOURCE_EXHAUSTED, LIMIT)
    assert server.server.registry.cache.revision == revision


def test_requests_under_the_limit_still_work_and_big_objects_meet_the_store_limit(server: Any, stub: Any) -> None:
    create(stub, big_pod("fits", 1))
    err = rpc_error(lambda: stub.Create(api_pb2.CreateRequest(object=big_pod("too-big", 2))))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.details().startswith('request entity too large: pods "too-big" is ')


def test_pykubes_client_refuses_to_send_an_oversized_request(server: Any) -> None:
    from client.connection import connect
    with connect(server.address) as connection:
        err = rpc_error(lambda: connection.stub.Create(api_pb2.CreateRequest(object=big_pod("big", 5))))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "Sent message larger than max" in err.details()


@pytest.mark.parametrize(("name", "message"), [
    ("..", "Name parameter invalid: \"..\": may not be '..'"),
    ("a/b", "Name parameter invalid: \"a/b\": may not contain '/'"),
    ("", "Name parameter required."),
])
def test_names_that_leave_their_place(server: Any, stub: Any, name: str, message: str) -> None:
    create(stub, pod("web"))
    revision = server.server.registry.cache.revision
    for call in (lambda: stub.Get(api_pb2.GetRequest(kind="Pod", namespace="default", name=name)),
                 lambda: stub.Delete(api_pb2.DeleteRequest(kind="Pod", namespace="default", name=name)),
                 lambda: stub.Bind(api_pb2.BindRequest(namespace="default", name=name, node_name="n1"))):
        err = rpc_error(call)
        assert (err.code(), err.details()) == (grpc.StatusCode.INVALID_ARGUMENT, message)
    err = rpc_error(lambda: stub.Get(api_pb2.GetRequest(kind="Pod", namespace="../kube-system", name="web")))
    assert err.details() == "Namespace parameter invalid: \"../kube-system\": may not contain '/'"
    assert server.server.registry.cache.revision == revision


@pytest.mark.parametrize("name", ["web\nINJECTED", "web\x00", "wéb", "💥" * 3000])
def test_odd_names_come_back_on_one_line_and_short(stub: Any, name: str) -> None:
    err = rpc_error(lambda: stub.Get(api_pb2.GetRequest(kind="Pod", namespace="default", name=name)))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert "\n" not in err.details() and "\x00" not in err.details() and len(err.details()) < 2100


@pytest.mark.parametrize("container", ["../../etc/passwd", "/etc/passwd", "main/../../x", "..", "main\n"])
def test_log_requests_for_containers_outside_the_pod(server: Any, stub: Any, container: str) -> None:
    """Refused by the apiserver against the Pod's spec (no kubelet is dialled: the Pod is not
    even bound), with Kubernetes' words."""
    create(stub, pod("web"))
    err = rpc_error(lambda: b"".join(c.data for c in stub.Logs(
        kubelet_pb2.LogsRequest(namespace="default", pod="web", container=container), timeout=5)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details().startswith("container ") and err.details().endswith(" is not valid for pod web")
    assert "\n" not in err.details()


UNARY_METHODS = ["Create", "Get", "List", "Update", "UpdateStatus", "Delete", "Apply", "Bind", "Batch"]


@pytest.mark.parametrize("payload", [b"\xff\xff\xff", b"\x0a\x05abc", b"\x08" + b"\xff" * 11, bytes(range(256))])
def test_garbage_bytes_are_a_bad_request_not_an_internal_error(server: Any, payload: bytes) -> None:
    channel = server.new_channel()
    for method in UNARY_METHODS:
        call = channel.unary_unary(f"/pykube.v1.API/{method}", request_serializer=None,
                                   response_deserializer=None)
        try:
            call(payload, timeout=5)
        except grpc.RpcError as err:
            assert err.code() != grpc.StatusCode.INTERNAL and err.code() != grpc.StatusCode.UNKNOWN, \
                (method, err.code(), err.details())
