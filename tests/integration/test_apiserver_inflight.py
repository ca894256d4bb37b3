"""The in-flight cap bites on a real apiserver process: with --max-requests-inflight 1 and
--max-mutating-requests-inflight 1, calls that overlap (sent together on one connection, each
holding its slot until its answer is sent) are refused with Kubernetes' 429 words, told apart
from the size limit by the trailing metadata; system:masters is always served; no slot leaks."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest

from apimachinery.convert import from_dict
from apimachinery.kinds import wrap
from apimachinery.limits import TOO_MANY_REQUESTS_MESSAGE, request_too_large
from client import pki
from client.connection import TLSConfig, aio_channel, connect
from protos import api_pb2, api_pb2_grpc
from apiserver_process import ApiserverProcess

OBJECTS = 150  # Pods listed by each read: a response big enough to take a while to send
BURST = 40


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory):
    base = tmp_path_factory.mktemp("inflight")
    server = ApiserverProcess(base / "data", base / "apiserver.log", extra_args=[
        "--cert-dir", str(base / "data" / "pki"), "--max-requests-inflight", "1",
        "--max-mutating-requests-inflight", "1"]).start()
    try:
        yield server
    finally:
        server.stop()


def _tls(server: ApiserverProcess, user: str, groups: tuple[str, ...]) -> TLSConfig:
    ca = pki.load_cert_key(server.data_dir / "pki", "ca")
    pair = pki.issue_client_cert(ca, user, groups)
    return TLSConfig(ca.cert_pem(), pair.cert_pem(), pair.key_pem())


def _pod(name: str) -> api_pb2.Object:
    return wrap(from_dict({"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": name, "namespace": "default", "annotations": {"filler": "x" * 2000}},
        "spec": {"containers": [{"name": "main", "image": "busybox"}]}}))


@pytest.fixture(scope="module")
def alice(apiserver):
    """alice (no group) bound to cluster-admin by RBAC: served, but counted."""
    admin = _tls(apiserver, "system:admin", ("system:masters",))
    with connect(apiserver.address, tls=admin) as conn:
        conn.stub.Create(api_pb2.CreateRequest(object=wrap(from_dict({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": "alice-admin"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]}))))
        for i in range(OBJECTS):
            conn.stub.Create(api_pb2.CreateRequest(object=_pod(f"filler-{i}")))
    return _tls(apiserver, "alice", ())


async def _burst(address: str, tls: TLSConfig, calls) -> list[tuple[float, float, grpc.RpcError | None]]:
    """Send every call at once on one connection; (start, end, error) per call."""
    async with aio_channel(address, [], tls=tls) as channel:
        stub = api_pb2_grpc.APIStub(channel)
        await stub.Version(api_pb2.VersionRequest(), timeout=10)  # connected before the burst

        async def one(call):
            start = time.monotonic()
            try:
                await call(stub)
            except grpc.RpcError as err:
                return start, time.monotonic(), err
            return start, time.monotonic(), None

        return await asyncio.gather(*(one(call) for call in calls))


def _list(stub):
    return stub.List(api_pb2.ListRequest(kind="Pod", namespace="default"), timeout=30)


def _refused(results) -> list[grpc.RpcError]:
    refused = [err for _, _, err in results if err is not None]
    for err in refused:
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
        assert err.details() == TOO_MANY_REQUESTS_MESSAGE
        trailer = dict(err.trailing_metadata())
        assert trailer["reason"] == "TooManyRequests" and trailer["retry-after"] == "1"
    return refused


def test_overlapping_reads_over_the_cap_are_refused_and_no_slot_leaks(apiserver, alice) -> None:
    results = asyncio.run(_burst(apiserver.address, alice, [_list] * BURST))
    refused = _refused(results)
    served = [(start, end) for start, end, err in results if err is None]
    assert refused and served, f"{len(refused)} refused, {len(served)} served"
    # Every refusal happened while a served call was in flight (the overlap that caused it).
    latest_end = max(end for _, end in served)
    assert all(start < latest_end for start, _, err in results if err is not None)
    # Nothing is left counted: one call at a time is always served.
    with connect(apiserver.address, tls=alice) as conn:
        for _ in range(5):
            assert len(conn.stub.List(api_pb2.ListRequest(kind="Pod", namespace="default")).items) == OBJECTS


def test_overlapping_writes_have_their_own_cap(apiserver, alice) -> None:
    def create(i):
        return lambda stub: stub.Create(api_pb2.CreateRequest(object=_pod(f"burst-{i}")), timeout=30)

    results = asyncio.run(_burst(apiserver.address, alice, [create(i) for i in range(BURST)]))
    refused = _refused(results)
    assert refused and len(refused) < BURST
    with connect(apiserver.address, tls=alice) as conn:  # what was refused was not written
        names = {o.pod.metadata.name for o in conn.stub.List(api_pb2.ListRequest(kind="Pod", namespace="default")).items}
    assert len([n for n in names if n.startswith("burst-")]) == BURST - len(refused)


def test_system_masters_is_always_served(apiserver, alice) -> None:
    admin = _tls(apiserver, "system:admin", ("system:masters",))
    results = asyncio.run(_burst(apiserver.address, admin, [_list] * BURST))
    assert [err for _, _, err in results if err is not None] == []


def test_the_size_limit_says_another_reason(apiserver, alice) -> None:
    big = _pod("too-big")
    big.pod.metadata.annotations["filler"] = "x" * (4 * 1024 * 1024)

    async def send() -> grpc.RpcError:
        async with aio_channel(apiserver.address, [("grpc.max_send_message_length", -1)], tls=alice) as channel:
            try:
                await api_pb2_grpc.APIStub(channel).Create(api_pb2.CreateRequest(object=big), timeout=30)
            except grpc.RpcError as err:
                return err
        raise AssertionError("a 4 MiB request was accepted")

    err = asyncio.run(send())
    assert (err.code(), err.details()) == (grpc.StatusCode.RESOURCE_EXHAUSTED, request_too_large())
    assert dict(err.trailing_metadata())["reason"] == "RequestEntityTooLarge"
