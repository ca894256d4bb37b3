"""API.Logs end to end in one process: client → apiserver → kubelet log server → runtime.

A real apiserver (conftest's ``server``) and a real kubelet log server
(kubelet.log_server, on the apiserver's event loop, listening on 127.0.0.1) backed by
a stand-in runtime with fixed output. The Node publishes InternalIP 127.0.0.1 and the
log server's port, exactly as a kubelet registers itself, so the apiserver finds the
kubelet the way it would on a real cluster."""

from __future__ import annotations

import asyncio
import io
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterator

import grpc
import pytest

from apiserver_testlib import create, pod, rpc_error, update_status
from kubectl.main import main as pykubectl
from kubelet.log_server import start_log_server
from kubelet.runtime import EXITED, RUNNING, ContainerStatus
from protos import api_pb2, api_pb2_grpc, kubelet_pb2

WAIT = 5.0


class StubRuntime:
    """The two Runtime methods logs need, with fixed output per container id.

    Runs on the apiserver's loop; the test thread adds output to a following stream
    with ``push`` and learns of the stream's start and end through threading.Events."""

    def __init__(self) -> None:
        self.containers: list[ContainerStatus] = []
        self.output: dict[str, bytes] = {}
        self.calls: list[tuple[str, bool, int | None]] = []
        self.following = threading.Event()
        self.closed = threading.Event()
        self._live: Any = None
        self._loop: Any = None

    def add(self, id: str, output: bytes, pod: str = "web", name: str = "main", attempt: int = 0,
            namespace: str = "default", state: str = RUNNING) -> None:
        self.containers.append(ContainerStatus(id=id, pod_uid="u", pod_name=pod, pod_namespace=namespace,
                                               name=name, attempt=attempt, image="busybox",
                                               image_id="sha256:0", state=state))
        self.output[id] = output

    async def list_containers(self) -> list[ContainerStatus]:
        return list(self.containers)

    async def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None) -> AsyncIterator[bytes]:
        self.calls.append((container_id, follow, tail))
        try:
            lines = self.output[container_id].splitlines(keepends=True)
            if tail is not None:
                lines = lines[len(lines) - tail:] if tail else []
            for line in lines:
                yield line
            if follow:
                self._loop, self._live = asyncio.get_running_loop(), asyncio.Queue()
                self.following.set()
                while True:
                    yield await self._live.get()
        finally:
            self.closed.set()

    def push(self, data: bytes) -> None:
        assert self.following.wait(WAIT), "the runtime was never asked to follow"
        self._loop.call_soon_threadsafe(self._live.put_nowait, data)


@dataclass
class Kubelet:
    runtime: StubRuntime
    port: int


@pytest.fixture
def kubelet(server: Any) -> Iterator[Kubelet]:
    """A kubelet log server on 127.0.0.1, stopped before the apiserver (fixture order)."""
    runtime = StubRuntime()
    log_server, port = server._call(start_log_server(runtime), WAIT)  # type: ignore[arg-type]
    yield Kubelet(runtime, port)
    server._call(log_server.stop(0), WAIT)


def make_node(stub: Any, name: str = "n1", port: int = 0, addresses: tuple[tuple[str, str], ...] = (
        ("Hostname", "n1"), ("InternalIP", "127.0.0.1"))) -> None:
    obj = api_pb2.Object()
    obj.node.metadata.name = name
    node = create(stub, obj)
    for kind, address in addresses:
        node.status.addresses.add(type=kind, address=address)
    node.status.daemon_endpoints.kubelet_endpoint.port = port
    update_status(stub, node)


def make_pod(stub: Any, name: str = "web", containers: tuple[str, ...] = ("main",), node: str = "n1",
             namespace: str = "") -> None:
    obj = pod(name, namespace=namespace)
    for extra in containers[1:]:
        obj.pod.spec.containers.add(name=extra, image="busybox:1.36")
    obj.pod.spec.containers[0].name = containers[0]
    create(stub, obj)
    if node:
        stub.Bind(api_pb2.BindRequest(namespace=namespace or "default", name=name, node_name=node))


def read(stub: Any, **request: Any) -> bytes:
    request.setdefault("namespace", "default")
    return b"".join(chunk.data for chunk in stub.Logs(kubelet_pb2.LogsRequest(**request), timeout=WAIT))


def error(stub: Any, **request: Any) -> tuple[grpc.StatusCode, str]:
    err = rpc_error(lambda: read(stub, **request))
    return err.code(), err.details()


@pytest.fixture
def web(stub: Any, kubelet: Kubelet) -> Kubelet:
    """Node n1 (this kubelet), Pod web bound to it, its container restarted once."""
    make_node(stub, port=kubelet.port)
    make_pod(stub)
    kubelet.runtime.add("c0", b"attempt 0\n", attempt=0, state=EXITED)
    kubelet.runtime.add("c1", b"line 1\nline 2\nline 3\n", attempt=1)
    return kubelet


# --------------------------------------------------------------------- the happy path


def test_logs_of_the_only_container(stub: Any, web: Kubelet) -> None:
    assert read(stub, pod="web") == b"line 1\nline 2\nline 3\n"
    assert web.runtime.calls == [("c1", False, None)]


def test_tail(stub: Any, web: Kubelet) -> None:
    assert read(stub, pod="web", tail_lines=2) == b"line 2\nline 3\n"
    assert read(stub, pod="web", tail_lines=0) == b""


def test_previous(stub: Any, web: Kubelet) -> None:
    assert read(stub, pod="web", previous=True) == b"attempt 0\n"


def test_previous_without_a_restart_is_the_kubelets_error(stub: Any, kubelet: Kubelet) -> None:
    make_node(stub, port=kubelet.port)
    make_pod(stub)
    kubelet.runtime.add("c0", b"x\n")
    assert error(stub, pod="web", previous=True) == (
        grpc.StatusCode.FAILED_PRECONDITION, 'previous terminated container "main" in pod "web" not found')


def test_not_started_yet_is_the_kubelets_error(stub: Any, kubelet: Kubelet) -> None:
    make_node(stub, port=kubelet.port)
    make_pod(stub)
    assert error(stub, pod="web") == (
        grpc.StatusCode.FAILED_PRECONDITION, 'container "main" in pod "web" is waiting to start')


def test_other_namespace(stub: Any, kubelet: Kubelet) -> None:
    create(stub, _namespace("prod"))
    make_node(stub, port=kubelet.port)
    make_pod(stub, namespace="prod")
    kubelet.runtime.add("d0", b"default's\n")
    kubelet.runtime.add("p0", b"prod's\n", namespace="prod")
    assert read(stub, namespace="prod", pod="web") == b"prod's\n"
    assert error(stub, namespace="default", pod="web") == (grpc.StatusCode.NOT_FOUND, 'pods "web" not found')


def _namespace(name: str) -> api_pb2.Object:
    obj = api_pb2.Object()
    obj.namespace.metadata.name = name
    return obj


# ------------------------------------------------------------- which container


def test_several_containers_need_a_name(stub: Any, kubelet: Kubelet) -> None:
    make_node(stub, port=kubelet.port)
    make_pod(stub, containers=("a", "b"))
    kubelet.runtime.add("a0", b"from a\n", name="a")
    kubelet.runtime.add("b0", b"from b\n", name="b")
    assert error(stub, pod="web") == (
        grpc.StatusCode.INVALID_ARGUMENT, "a container name must be specified for pod web, choose one of: [a b]")
    assert error(stub, pod="web", container="c") == (
        grpc.StatusCode.INVALID_ARGUMENT, "container c is not valid for pod web")
    assert read(stub, pod="web", container="b") == b"from b\n"
    assert kubelet.runtime.calls == [("b0", False, None)]  # the refused requests never reached it


def test_negative_tail_is_invalid(stub: Any, web: Kubelet) -> None:
    code, message = error(stub, pod="web", tail_lines=-5)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert message == 'PodLogOptions "web" is invalid: tailLines: Invalid value: -5: must be greater than or equal to 0'


# ----------------------------------------------------------- pod, node, kubelet


def test_missing_pod(stub: Any) -> None:
    assert error(stub, pod="nope") == (grpc.StatusCode.NOT_FOUND, 'pods "nope" not found')


def test_unbound_pod(stub: Any) -> None:
    make_pod(stub, node="")
    assert error(stub, pod="web") == (grpc.StatusCode.INVALID_ARGUMENT, "pod web does not have a host assigned")


def test_node_without_kubelet_port(stub: Any) -> None:
    make_node(stub, port=0)
    make_pod(stub)
    code, message = error(stub, pod="web")
    assert code == grpc.StatusCode.INTERNAL
    assert message == 'node "n1" publishes no kubelet port (status.daemonEndpoints.kubeletEndpoint.Port)'


def test_node_without_address(stub: Any) -> None:
    make_node(stub, port=10250, addresses=(("Hostname", "no-such-node.invalid"),))
    make_pod(stub)
    code, message = error(stub, pod="web")
    assert code == grpc.StatusCode.INTERNAL
    assert message.startswith('node "n1" publishes no usable address of the types '
                              'Hostname,InternalDNS,InternalIP,ExternalDNS,ExternalIP')


def test_kubelet_not_listening(stub: Any) -> None:
    with socket.socket() as sock:  # a port nobody listens on (once closed)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    make_node(stub, port=port)
    make_pod(stub)
    code, message = error(stub, pod="web")
    # INTERNAL, not UNAVAILABLE: the apiserver answered; pykubectl must not say it is down.
    assert code == grpc.StatusCode.INTERNAL
    assert message.startswith(f'cannot reach the kubelet of node "n1" at 127.0.0.1:{port}: ')


def test_kubelet_that_never_answers_times_out(server: Any, stub: Any) -> None:
    """A socket that accepts TCP but never speaks HTTP/2: the dial gives up on time."""
    server.server.service.logs.dial_timeout = 0.5
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        make_node(stub, port=sock.getsockname()[1])
        make_pod(stub)
        code, message = error(stub, pod="web")
    assert code == grpc.StatusCode.INTERNAL
    assert message.endswith("no answer within 0.5s")


def test_channels_are_reused_per_address(server: Any, stub: Any, web: Kubelet) -> None:
    read(stub, pod="web")
    read(stub, pod="web", previous=True)
    assert list(server.server.service.logs._channels) == [f"127.0.0.1:{web.port}"]


# ------------------------------------------------------------------------ follow


def test_follow_streams_new_output_until_the_client_goes(server: Any, web: Kubelet) -> None:
    stub = api_pb2_grpc.APIStub(server.channel)  # no deadline: a follow stays open
    call = stub.Logs(kubelet_pb2.LogsRequest(namespace="default", pod="web", follow=True))
    received: queue.Queue = queue.Queue()

    def drain() -> None:
        try:
            for chunk in call:
                received.put(chunk.data)
        except grpc.RpcError as err:
            received.put(err)

    reader = threading.Thread(target=drain, name="logs-reader", daemon=True)
    reader.start()
    try:
        assert [received.get(timeout=WAIT) for _ in range(3)] == [b"line 1\n", b"line 2\n", b"line 3\n"]
        web.runtime.push(b"line 4\n")
        assert received.get(timeout=WAIT) == b"line 4\n"
        web.runtime.push(b"line 5\n")
        assert received.get(timeout=WAIT) == b"line 5\n"
        assert not web.runtime.closed.is_set()
    finally:
        call.cancel()
        reader.join(WAIT)
    assert not reader.is_alive()
    # The cancel travelled apiserver → kubelet → runtime: nothing keeps following.
    assert web.runtime.closed.wait(WAIT), "the kubelet's runtime stream was not closed"
    assert web.runtime.calls == [("c1", True, None)]


# ------------------------------------------------------------ through pykubectl


def test_pykubectl_logs_prints_the_bytes(server: Any, web: Kubelet) -> None:
    raw, err = io.BytesIO(), io.StringIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")
    rc = pykubectl(["--server", server.address, "logs", "web", "--tail", "1"], env={}, stdout=out, stderr=err)
    assert (rc, raw.getvalue(), err.getvalue()) == (0, b"line 3\n", "")


def test_pykubectl_logs_errors_read_like_kubectl(server: Any, stub: Any, kubelet: Kubelet) -> None:
    make_node(stub, port=kubelet.port)
    make_pod(stub, containers=("a", "b"))
    make_pod(stub, name="pending", node="")

    def run(*argv: str) -> tuple[int, str]:
        err = io.StringIO()
        rc = pykubectl(["--server", server.address, "logs", *argv], env={}, stdout=io.StringIO(), stderr=err)
        return rc, err.getvalue()

    assert run("web") == (1, "Error from server (BadRequest): a container name must be specified for pod web, "
                             "choose one of: [a b]\n")
    assert run("web", "-c", "a") == (1, 'Error from server (BadRequest): container "a" in pod "web" is waiting '
                                        "to start\n")
    assert run("pending") == (1, "Error from server (BadRequest): pod pending does not have a host assigned\n")
    assert run("ghost") == (1, 'Error from server (NotFound): pods "ghost" not found\n')
