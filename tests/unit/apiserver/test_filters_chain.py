"""The request filter chain against a real in-process apiserver: who may call
(authentication), what they may do (authorization), how many at once (max in flight).

The callers' identities come from a test authenticator that reads an ``x-user`` header
(``name`` or ``name:group1,group2``), standing in for the TLS certificate."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from apimachinery.identity import UserInfo
from apiserver.auth.attributes import Attributes, Decision
from apiserver.filters import INSECURE_USER, TOO_MANY_REQUESTS_MESSAGE
from apiserver.service import APIService
from apiserver_testlib import WatchReader, create, list_names, namespace, node, pod, rpc_error, snapshot
from protos import api_pb2, api_pb2_grpc, kubelet_pb2


class HeaderAuthenticator:
    def authenticate(self, context: Any) -> UserInfo | None:
        for key, value in context.invocation_metadata() or ():
            if key == "x-user":
                name, _, groups = value.partition(":")
                return UserInfo(name, tuple(g for g in groups.split(",") if g))
        return None


class AdminOrReadDev:
    """"admin" may do anything; everyone may get and list in "dev"; no one else anything."""

    def __init__(self) -> None:
        self.asked: list[Attributes] = []

    def authorize(self, attrs: Attributes) -> Decision:
        self.asked.append(attrs)
        if attrs.user.name == "admin":
            return Decision(True)
        if attrs.verb in ("get", "list", "watch") and attrs.namespace == "dev":
            return Decision(True)
        return Decision(False, "no rule says so")


ADMIN = [("x-user", "admin")]
ALICE = [("x-user", "alice:dev-team")]
MASTER = [("x-user", "root:system:masters")]


@pytest.fixture
def guarded(server_factory: Any) -> Any:
    authorizer = AdminOrReadDev()
    server = server_factory(authenticator=HeaderAuthenticator(), authorizer=authorizer)
    server.authorizer = authorizer
    server.stub.Create(api_pb2.CreateRequest(object=namespace("dev")), metadata=ADMIN)
    return server


def test_no_identity_is_unauthenticated(guarded: Any) -> None:
    guarded.authorizer.asked.clear()
    err = rpc_error(lambda: guarded.stub.List(api_pb2.ListRequest(kind="Pod")))
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.details() == "Unauthorized"
    assert guarded.authorizer.asked == []  # refused before anything else looked at it


def test_denied_write_answers_kubernetes_wording_and_writes_nothing(guarded: Any) -> None:
    stub = guarded.stub
    stub.Create(api_pb2.CreateRequest(object=pod("web", namespace="dev")), metadata=ADMIN)
    before = snapshot(_as(stub, ADMIN), "Pod", "Node")

    err = rpc_error(lambda: stub.Create(api_pb2.CreateRequest(object=pod("evil", namespace="dev")), metadata=ALICE))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert err.details() == ('pods is forbidden: User "alice" cannot create resource "pods" in API group "" '
                             'in the namespace "dev": no rule says so')
    err = rpc_error(lambda: stub.Delete(api_pb2.DeleteRequest(kind="Pod", namespace="dev", name="web"),
                                        metadata=ALICE))
    assert err.details().startswith('pods "web" is forbidden: User "alice" cannot delete resource "pods"')
    err = rpc_error(lambda: stub.List(api_pb2.ListRequest(kind="Node"), metadata=ALICE))
    assert err.details() == ('nodes is forbidden: User "alice" cannot list resource "nodes" in API group "" '
                             'at the cluster scope: no rule says so')
    assert snapshot(_as(stub, ADMIN), "Pod", "Node") == before  # nothing written
    assert [p.pod.metadata.name for p in stub.List(api_pb2.ListRequest(kind="Pod", namespace="dev"),
                                                   metadata=ALICE).items] == ["web"]


def test_allowed_reads_and_what_was_asked(guarded: Any) -> None:
    stub = guarded.stub
    stub.Create(api_pb2.CreateRequest(object=pod("web", namespace="dev")), metadata=ADMIN)
    guarded.authorizer.asked.clear()
    got = stub.Get(api_pb2.GetRequest(kind="Pod", namespace="dev", name="web"), metadata=ALICE)
    assert got.pod.metadata.name == "web"
    assert guarded.authorizer.asked == [Attributes(UserInfo("alice", ("dev-team",)), "get", "", "pods",
                                                   namespace="dev", name="web")]


def test_batch_needs_every_op_allowed(guarded: Any) -> None:
    stub = guarded.stub
    ops = [api_pb2.BatchOp(create=api_pb2.CreateRequest(object=node("n1"))),
           api_pb2.BatchOp(create=api_pb2.CreateRequest(object=pod("p", namespace="dev")))]
    err = rpc_error(lambda: stub.Batch(api_pb2.BatchRequest(ops=ops), metadata=ALICE))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert 'cannot create resource "nodes"' in err.details()
    assert list_names(_as(stub, ADMIN), "Node") == []
    stub.Batch(api_pb2.BatchRequest(ops=ops), metadata=ADMIN)
    assert list_names(_as(stub, ADMIN), "Node") == ["n1"]


def test_watch_is_authorized_before_it_starts(guarded: Any) -> None:
    raw = api_pb2_grpc.APIStub(guarded.channel)
    call = raw.Watch(api_pb2.WatchRequest(kind="Pod", namespace="default"), metadata=ALICE, timeout=10)
    with pytest.raises(grpc.RpcError) as info:
        next(iter(call))
    err: Any = info.value
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert 'cannot watch resource "pods" in API group "" in the namespace "default"' in err.details()


def test_exec_is_authorized_by_its_first_message(guarded: Any) -> None:
    raw = api_pb2_grpc.APIStub(guarded.channel)
    start = kubelet_pb2.ExecInput(start=kubelet_pb2.ExecStart(namespace="dev", pod="web", command=["sh"]))
    err = rpc_error(lambda: list(raw.Exec(iter([start]), metadata=ALICE, timeout=10)))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert err.details() == ('pods "web" is forbidden: User "alice" cannot create resource "pods/exec" '
                             'in API group "" in the namespace "dev": no rule says so')
    err = rpc_error(lambda: list(raw.Exec(iter([start]), metadata=ADMIN, timeout=10)))
    assert (err.code(), err.details()) == (grpc.StatusCode.NOT_FOUND, 'pods "web" not found')  # past the chain


def test_default_chain_is_the_insecure_admin(server: Any) -> None:
    """No flags: everyone is system:unsecured (system:masters) and everything is allowed."""
    assert server.server.filters.authenticator.authenticate(None) == INSECURE_USER
    create(server.stub, pod("web"))
    assert list_names(server.stub, "Pod", "default") == ["web"]


def test_authorization_mode_always_deny(server_factory: Any) -> None:
    server = server_factory(authorization_mode="AlwaysDeny")
    err = rpc_error(lambda: server.stub.Create(api_pb2.CreateRequest(object=pod("web"))))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert err.details() == ('pods is forbidden: User "system:unsecured" cannot create resource "pods" '
                             'in API group "" in the namespace "default"')
    # Even /version, which Kubernetes' RBAC bootstrap policy shows everyone: AlwaysDeny denies all.
    err = rpc_error(lambda: server.stub.Version(api_pb2.VersionRequest()))
    assert err.details() == 'forbidden: User "system:unsecured" cannot get path "/version"'


# ---------------------------------------------------------------- max in flight


@pytest.fixture
def held_gets(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every Get waits for release() before it is served (as a call waiting on storage would)."""
    gate = asyncio.Event()
    original = APIService.Get

    async def held_get(self: APIService, request: Any, context: Any) -> Any:
        await gate.wait()
        return await original(self, request, context)

    monkeypatch.setattr(APIService, "Get", held_get)
    return gate


def _wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_in_flight_cap_refuses_at_once_and_watches_do_not_count(server_factory: Any, held_gets: asyncio.Event,
                                                                watches: Any, tmp_path: Path) -> None:
    audit_log = tmp_path / "audit.log"
    server = server_factory(authenticator=HeaderAuthenticator(), max_requests_inflight=3,
                            max_mutating_requests_inflight=1, audit_log_path=str(audit_log))
    limiter = server.server.filters.limiter
    raw = api_pb2_grpc.APIStub(server.channel)
    create(_as(server.stub, ALICE), pod("web"))
    watch = watches(_as(server.stub, ALICE), kind="Pod", namespace="default")  # long-running: not counted
    assert watch.next().type == "ADDED"
    get = api_pb2.GetRequest(kind="Pod", namespace="default", name="web")
    held = [raw.Get.future(get, metadata=ALICE, timeout=10) for _ in range(3)]
    _wait_for(lambda: limiter.read_only == 3)

    err = rpc_error(lambda: raw.Get(get, metadata=ALICE, timeout=10))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.details() == TOO_MANY_REQUESTS_MESSAGE
    err = rpc_error(lambda: raw.Version(api_pb2.VersionRequest(), metadata=ALICE, timeout=10))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # system:masters is always served; writes have their own limit; a new watch still opens.
    assert raw.Version(api_pb2.VersionRequest(), metadata=MASTER, timeout=10).git_version
    create(_as(server.stub, ALICE), pod("db"))
    second = watches(_as(server.stub, ALICE), kind="Pod", namespace="default")
    assert second.next().object.pod.metadata.name in ("web", "db")
    assert watch.next_non_bookmark().object.pod.metadata.name == "db"
    assert (limiter.read_only, limiter.mutating, limiter.rejected) == (3, 0, 2)

    server.loop.call_soon_threadsafe(held_gets.set)
    assert [f.result(timeout=10).pod.metadata.name for f in held] == ["web"] * 3
    _wait_for(lambda: limiter.read_only == 0)
    assert raw.Get(get, metadata=ALICE, timeout=10).pod.metadata.name == "web"
    for reader in (watch, second):
        reader.close()
    server.stop()
    refused = [json.loads(line) for line in audit_log.read_text().splitlines() if '"code":429' in line]
    assert [(e["verb"], e["user"]["username"], e["responseStatus"]["reason"]) for e in refused] == \
        [("get", "alice", "TooManyRequests"), ("get", "alice", "TooManyRequests")]


def test_in_flight_zero_is_no_limit(server_factory: Any) -> None:
    server = server_factory(max_requests_inflight=0, max_mutating_requests_inflight=0)
    create(server.stub, pod("web"))
    assert server.server.filters.limiter.admit(False, UserInfo("x")) is None


def _as(stub: Any, metadata: list[tuple[str, str]]) -> Any:
    """The stub with this caller's identity header on every call."""
    class As:
        def __getattr__(self, name: str) -> Any:
            method = getattr(stub, name)

            def call(request: Any, **kwargs: Any) -> Any:
                kwargs.setdefault("metadata", metadata)
                return method(request, **kwargs)
            return call
    return As()


def test_watch_reader_with_identity(guarded: Any) -> None:
    """The WatchReader helper works through _as (the in-flight test relies on it)."""
    guarded.stub.Create(api_pb2.CreateRequest(object=pod("web", namespace="dev")), metadata=ADMIN)
    reader = WatchReader(_as(guarded.stub, ALICE), api_pb2.WatchRequest(kind="Pod", namespace="dev"))
    try:
        assert reader.next().object.pod.metadata.name == "web"
    finally:
        reader.close()
