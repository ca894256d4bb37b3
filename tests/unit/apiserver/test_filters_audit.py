"""The audit log written by a real in-process apiserver: one audit.k8s.io/v1 Event line
per Kubernetes request, refused ones included, with what each level adds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import grpc

from apimachinery.identity import UserInfo
from apiserver.audit import AuditLog
from apiserver.auth.attributes import Attributes, Decision
from apiserver_testlib import create, pod, rpc_error
from protos import api_pb2, api_pb2_grpc, kubelet_pb2


def _events(server: Any, path: Path) -> list[dict[str, Any]]:
    server.stop()  # flushes the log
    return [json.loads(line) for line in path.read_text().splitlines()]


class DenyDeletes:
    def authorize(self, attrs: Attributes) -> Decision:
        return Decision(attrs.verb != "delete")


def test_metadata_level_who_what_answer(server_factory: Any, tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    server = server_factory(audit_log_path=str(path), authorizer=DenyDeletes())
    create(server.stub, pod("web"))
    rpc_error(lambda: server.stub.Get(api_pb2.GetRequest(kind="Pod", namespace="default", name="nope")))
    err = rpc_error(lambda: server.stub.Delete(api_pb2.DeleteRequest(kind="Pod", namespace="default", name="web")))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert path.stat().st_mode & 0o777 == 0o600
    created, missing, denied = _events(server, path)

    assert created["kind"] == "Event" and created["apiVersion"] == "audit.k8s.io/v1"
    assert created["level"] == "Metadata" and created["stage"] == "ResponseComplete"
    assert created["requestURI"] == "/pykube.v1.API/Create" and created["verb"] == "create"
    assert created["user"] == {"username": "system:unsecured", "groups": ["system:masters", "system:authenticated"]}
    assert created["sourceIPs"] == ["127.0.0.1"]
    assert created["userAgent"].startswith("grpc-python")
    assert created["objectRef"] == {"resource": "pods", "namespace": "default", "name": "web", "apiVersion": "v1"}
    assert created["responseStatus"] == {"metadata": {}, "code": 201}
    assert created["annotations"]["authorization.k8s.io/decision"] == "allow"
    assert created["annotations"]["apiserver.latency.k8s.io/total"].endswith(("µs", "ms", "s"))
    assert created["requestReceivedTimestamp"] <= created["stageTimestamp"]
    assert created["requestReceivedTimestamp"].endswith("Z") and len(created["auditID"]) == 36
    assert "requestObject" not in created and "responseObject" not in created

    assert missing["verb"] == "get" and missing["objectRef"]["name"] == "nope"
    assert missing["responseStatus"] == {"metadata": {}, "status": "Failure", "reason": "NotFound", "code": 404,
                                         "message": 'pods "nope" not found'}
    assert denied["verb"] == "delete" and denied["responseStatus"]["code"] == 403
    assert denied["responseStatus"]["message"].startswith('pods "web" is forbidden')
    assert denied["annotations"]["authorization.k8s.io/decision"] == "forbid"


def test_request_and_response_levels(server_factory: Any, tmp_path: Path) -> None:
    request_log, response_log = tmp_path / "request.log", tmp_path / "response.log"
    for path, level in ((request_log, "Request"), (response_log, "RequestResponse")):
        server = server_factory(data_dir=tmp_path / level, audit_log_path=str(path), audit_level=level)
        create(server.stub, pod("web"))
        [event] = _events(server, path)
        assert event["level"] == level
        assert event["requestObject"]["kind"] == "Pod"
        assert event["requestObject"]["spec"]["containers"][0]["image"] == "nginx:1.27"
        if level == "Request":
            assert "responseObject" not in event
        else:
            assert event["responseObject"]["metadata"]["uid"]  # what the server made of it


def test_batch_ops_audited_each_with_its_answer(server_factory: Any, tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    server = server_factory(audit_log_path=str(path))
    create(server.stub, pod("web"))
    ops = [api_pb2.BatchOp(create=api_pb2.CreateRequest(object=pod("web"))),  # exists already
           api_pb2.BatchOp(),  # empty: answered INVALID_ARGUMENT, asks for nothing, not audited
           api_pb2.BatchOp(bind=api_pb2.BindRequest(namespace="default", name="web", node_name="n1"))]
    server.stub.Batch(api_pb2.BatchRequest(ops=ops))
    _, again, bind = _events(server, path)
    assert (again["verb"], again["responseStatus"]["code"], again["responseStatus"]["reason"]) == \
        ("create", 409, "AlreadyExists")
    assert bind["objectRef"] == {"resource": "pods", "namespace": "default", "name": "web", "apiVersion": "v1",
                                 "subresource": "binding"}
    assert bind["responseStatus"]["code"] == 201


def test_unauthenticated_is_audited(server_factory: Any, tmp_path: Path) -> None:
    class Nobody:
        def authenticate(self, context: Any) -> UserInfo | None:
            return None

    path = tmp_path / "audit.log"
    server = server_factory(audit_log_path=str(path), authenticator=Nobody())
    rpc_error(lambda: server.stub.List(api_pb2.ListRequest(kind="Pod")))
    start = kubelet_pb2.ExecInput(start=kubelet_pb2.ExecStart(namespace="default", pod="web", command=["sh"]))
    err = rpc_error(lambda: list(api_pb2_grpc.APIStub(server.channel).Exec(iter([start]), timeout=10)))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    listed, execed = _events(server, path)
    assert listed["user"] == {} and listed["verb"] == "list"
    assert listed["responseStatus"]["code"] == 401 and listed["responseStatus"]["message"] == "Unauthorized"
    # A stream's first message is not read before the caller is known: which Pod is not audited.
    assert execed["verb"] == "create" and execed["responseStatus"]["code"] == 401
    assert "objectRef" not in execed  # which Pod is in the first message, not read for a stranger


def test_watch_audited_when_started_and_when_done(server_factory: Any, tmp_path: Path, watches: Any) -> None:
    path = tmp_path / "audit.log"
    server = server_factory(audit_log_path=str(path))
    watch = watches(api_pb2_grpc.APIStub(server.channel), kind="Pod", namespace="default")
    create(server.stub, pod("web"))
    assert watch.next().type == "ADDED"
    watch.close()
    events = [e for e in _events(server, path) if e["verb"] == "watch"]
    assert [e["stage"] for e in events] == ["ResponseStarted", "ResponseComplete"]
    assert events[1]["responseStatus"]["code"] == 200  # the client closed a stream it was served


def test_write_failures_are_logged_not_raised(tmp_path: Path) -> None:
    audit = AuditLog(str(tmp_path / "audit.log"), "Metadata")
    audit._out.close()  # every write now fails
    audit.log({"kind": "Event"})
    audit.close()
    assert audit.written == 0


def test_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    audit = AuditLog(str(tmp_path / "audit.log"), "Metadata", max_queued=1)
    for _ in range(200):
        audit.log({"kind": "Event"})
    audit.close()
    assert audit.written + audit.dropped == 200
    assert len((tmp_path / "audit.log").read_text().splitlines()) == audit.written
