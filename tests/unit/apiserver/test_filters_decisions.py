"""The request filters' pure parts: what a call asks (attributes), the refusal wording,
the in-flight decision, authorizer modes and the audit event's pieces."""

from __future__ import annotations

import grpc
import pytest

from apimachinery.identity import UserInfo
from apiserver import errors
from apiserver.audit import build_event, go_duration, level_rank, response_status, source_ips
from apiserver.audit_objects import object_parts, object_ref
from apiserver.auth.attributes import Attributes, attributes_for, forbidden_message
from apiserver.auth.authorizer import authorizer_for
from apiserver.auth.modes import AlwaysAllow, AlwaysDeny, UnionAuthorizer
from apiserver.filters import LONG_RUNNING, READ_ONLY, FilterChain, InFlightLimiter
from apiserver.watchcache import WatchCache
from apiserver.service import APIService
from apiserver_testlib import deployment, node, pod
from protos import api_pb2, kubelet_pb2

ALICE = UserInfo("alice", ("dev",))
API = api_pb2.DESCRIPTOR.services_by_name["API"]


def a(verb: str, resource: str, namespace: str = "", name: str = "", subresource: str = "",
      group: str = "") -> Attributes:
    return Attributes(ALICE, verb, group, resource, subresource, namespace, name)


@pytest.mark.parametrize("method, request_, expected", [
    ("Create", api_pb2.CreateRequest(object=pod("web")), [a("create", "pods", "default")]),
    ("Create", api_pb2.CreateRequest(object=deployment("web", namespace="dev")),
     [a("create", "deployments", "dev", group="apps")]),
    ("Create", api_pb2.CreateRequest(object=node("n1")), [a("create", "nodes")]),
    ("Get", api_pb2.GetRequest(kind="Pod", name="web"), [a("get", "pods", "default", "web")]),
    ("List", api_pb2.ListRequest(kind="Pod"), [a("list", "pods")]),
    ("Watch", api_pb2.WatchRequest(kind="Lease", namespace="kube-node-lease"),
     [a("watch", "leases", "kube-node-lease", group="coordination.k8s.io")]),
    ("UpdateStatus", api_pb2.UpdateRequest(object=pod("web", namespace="dev")),
     [a("update", "pods", "dev", "web", "status")]),
    ("Delete", api_pb2.DeleteRequest(kind="Node", name="n1"), [a("delete", "nodes", name="n1")]),
    ("Apply", api_pb2.ApplyRequest(objects=[pod("a"), node("n")]),  # not knowing what exists: both
     [a("patch", "pods", "default", "a"), a("create", "pods", "default"), a("patch", "nodes", name="n"),
      a("create", "nodes")]),
    ("Bind", api_pb2.BindRequest(namespace="dev", name="web", node_name="n1"),
     [a("create", "pods", "dev", "web", "binding")]),
    ("Logs", kubelet_pb2.LogsRequest(namespace="dev", pod="web"), [a("get", "pods", "dev", "web", "log")]),
    ("Exec", kubelet_pb2.ExecInput(start=kubelet_pb2.ExecStart(pod="web")),
     [a("create", "pods", "default", "web", "exec")]),
    ("PortForward", kubelet_pb2.PortForwardInput(start=kubelet_pb2.PortForwardStart(namespace="x", pod="web")),
     [a("create", "pods", "x", "web", "portforward")]),
    ("Version", api_pb2.VersionRequest(), [Attributes(ALICE, "get", "", "", path="/version")]),
    ("Get", api_pb2.GetRequest(kind="Gizmo", name="g"), [a("get", "gizmo", name="g")]),
])
def test_attributes_for(method: str, request_: object, expected: list[Attributes]) -> None:
    assert attributes_for(method, request_, ALICE) == expected


def test_batch_attributes_and_parts_pair_up() -> None:
    request = api_pb2.BatchRequest(ops=[api_pb2.BatchOp(create=api_pb2.CreateRequest(object=pod("a"))),
                                        api_pb2.BatchOp(),
                                        api_pb2.BatchOp(delete=api_pb2.DeleteRequest(kind="Pod", name="b"))])
    attrs = attributes_for("Batch", request, ALICE)
    assert [(x.verb, x.name) for x in attrs] == [("create", ""), ("delete", "b")]
    parts = object_parts("Batch", request)
    assert len(parts) == 2
    assert parts[0].object_ref(attrs[0])["name"] == "a"  # a create's name comes from its object
    assert parts[1].request_object() == {"kind": "Pod", "name": "b"}


def test_forbidden_message_wording() -> None:
    assert forbidden_message(a("list", "pods", "default")) == (
        'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"')
    assert forbidden_message(a("get", "nodes", name="n2"), "not its node") == (
        'nodes "n2" is forbidden: User "alice" cannot get resource "nodes" in API group "" at the cluster scope: '
        'not its node')
    assert forbidden_message(a("delete", "deployments", "dev", "web", group="apps")) == (
        'deployments.apps "web" is forbidden: User "alice" cannot delete resource "deployments" '
        'in API group "apps" in the namespace "dev"')
    assert 'cannot create resource "pods/binding"' in forbidden_message(a("create", "pods", "d", "w", "binding"))


def test_in_flight_limiter() -> None:
    limiter = InFlightLimiter(max_read_only=1, max_mutating=2)
    assert limiter.admit(False, ALICE) is True
    assert limiter.admit(False, ALICE) is False  # at once, no queue
    assert limiter.admit(False, UserInfo("root", ("system:masters",))) is None  # served, not counted
    assert limiter.admit(True, ALICE) is True and limiter.admit(True, ALICE) is True
    assert limiter.admit(True, ALICE) is False
    assert (limiter.read_only, limiter.mutating, limiter.rejected) == (1, 2, 2)
    limiter.release(False)
    assert limiter.admit(False, ALICE) is True
    assert InFlightLimiter(0, 0).admit(True, ALICE) is None


def test_long_running_and_read_only_methods() -> None:
    streaming = {m.name for m in API.methods if m.server_streaming or m.client_streaming}
    assert LONG_RUNNING == streaming
    assert READ_ONLY <= {m.name for m in API.methods}


def test_every_method_is_wrapped() -> None:
    wrapped = FilterChain().wrap(APIService.__new__(APIService), API)
    assert {m.name for m in API.methods} == set(vars(wrapped))


def test_authorizer_modes() -> None:
    cache = WatchCache(history_size=10)
    assert isinstance(authorizer_for("AlwaysAllow", cache), AlwaysAllow)
    union = authorizer_for("AlwaysDeny, AlwaysAllow", cache)
    assert isinstance(union, UnionAuthorizer) and union.authorize(a("get", "pods")).allowed
    assert not AlwaysDeny().authorize(a("get", "pods")).allowed
    with pytest.raises(ValueError, match='unknown authorization mode "Webhook"'):
        authorizer_for("AlwaysAllow,Webhook", cache)
    assert not authorizer_for("Node,RBAC", cache).authorize(a("get", "pods")).allowed  # alice has no role


def test_audit_pieces() -> None:
    assert go_duration(0.0000005) == "500ns"
    assert go_duration(0.000378821002) == "378.821µs"
    assert go_duration(0.0015) == "1.5ms"
    assert go_duration(2.5) == "2.5s"
    assert go_duration(90) == "1m30s"
    assert source_ips("ipv4:127.0.0.1:5000") == ["127.0.0.1"]
    assert source_ips("ipv6:[::1]:5000") == ["::1"]
    assert source_ips("unix:/run/x.sock") == ["unix:/run/x.sock"]
    assert level_rank("RequestResponse") == 3
    with pytest.raises(ValueError, match="invalid audit level"):
        level_rank("Everything")
    assert response_status(200) == {"metadata": {}, "code": 200}
    assert errors.http_status(grpc.StatusCode.ABORTED) == (409, "Conflict")
    assert errors.http_status(grpc.StatusCode.DATA_LOSS) == (500, "InternalError")
    assert object_ref(a("update", "pods", "dev", "web", "status")) == {
        "resource": "pods", "namespace": "dev", "name": "web", "apiVersion": "v1", "subresource": "status"}


def test_event_levels() -> None:
    common = dict(audit_id="id", stage="ResponseComplete", uri="/pykube.v1.API/Create", verb="create", user=ALICE,
                  peer="ipv4:10.0.0.1:1", user_agent="", object_ref=None, status=response_status(201),
                  received=0.0, now=0.5, annotations={}, request_object={"kind": "Pod"},
                  response_object={"kind": "Pod", "metadata": {"uid": "u"}})
    metadata, request, full = (build_event(level=n, **common) for n in (1, 2, 3))  # type: ignore[arg-type]
    assert "requestObject" not in metadata and "responseObject" not in metadata
    assert "requestObject" in request and "responseObject" not in request
    assert "requestObject" in full and "responseObject" in full
    assert metadata["requestReceivedTimestamp"] == "1970-01-01T00:00:00.000000Z"
    assert metadata["stageTimestamp"] == "1970-01-01T00:00:00.500000Z"
    assert metadata["user"] == {"username": "alice", "groups": ["dev"]}


def test_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    from apiserver.main import ServerConfig, parse_args
    monkeypatch.setattr("apiserver.main.configure_logging", lambda log_format: None)  # no global change
    config = parse_args(["--in-memory", "--insecure-plaintext", "--max-requests-inflight", "10",
                         "--max-mutating-requests-inflight", "0",
                         "--authorization-mode", "AlwaysDeny", "--audit-log-path", "-", "--audit-level", "Request"])
    assert (config.max_requests_inflight, config.max_mutating_requests_inflight) == (10, 0)
    assert (config.authorization_mode, config.audit_log_path, config.audit_level) == ("AlwaysDeny", "-", "Request")
    defaults = parse_args(["--in-memory", "--insecure-plaintext"])
    assert (defaults.max_requests_inflight, defaults.max_mutating_requests_inflight, defaults.audit_log_path,
            defaults.audit_level, defaults.authorization_mode) == (400, 200, "", "Metadata", "AlwaysAllow")
    assert defaults.authenticator is None and ServerConfig().authorizer is None
    for bad in (["--authorization-mode", "Magic"], ["--max-requests-inflight", "-1"], ["--audit-level", "All"]):
        with pytest.raises(SystemExit):
            parse_args(["--in-memory", "--insecure-plaintext", *bad])
