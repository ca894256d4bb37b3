"""API.PortForward end to end in one process: pykubectl → apiserver → kubelet (Kubelet.PortForward).

A real apiserver (conftest's ``server``) and a real kubelet service on 127.0.0.1 over the fake
runtime, whose Pod port 8080 stands for a server on this machine's loopback that answers in
capitals once it has read to EOF (so the half-close must travel the whole way). What the
apiserver checks (the Pod exists, runs, is bound) and what it relays are both covered, and
``pykubectl port-forward`` itself runs in this process until its SIGINT. The real thing, with
Podman and a Pod's network namespace, is tests/integration/test_port_forward.py."""

from __future__ import annotations

import io
import queue
import signal
import socket
import socketserver
import threading
from typing import Any, Iterator

import grpc
import pytest

from apiserver_testlib import create, deployment, get, rpc_error, update_status, wrap
from client.config import Settings
from kubectl.context import Context
from kubectl.errors import CliError
from kubectl.main import main as pykubectl
from kubectl.verbs.port_forward import resolve_target
from kubectl.verbs.port_forward_targets import ForwardedPort
from kubelet.log_server import start_log_server
from kubelet.runtime import SandboxSpec
from kubelet.runtime.fake import FakeRuntime
from protos import api_pb2, kubelet_pb2
from test_apiserver_logs import WAIT, make_node, make_pod


class Capitals(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        received = b""
        while chunk := self.request.recv(1024):
            received += chunk
        self.request.sendall(received.upper())


class LoopbackRuntime(FakeRuntime):
    """The fake, with the sandboxes' port 8080 served by ``Capitals`` on 127.0.0.1."""

    def __init__(self, real_port: int) -> None:
        super().__init__("n1", images=["busybox:1.36"])
        self.real_port = real_port

    async def port_forward_socket(self, sandbox_id: str, port: int) -> socket.socket:
        if port != 8080:
            return await super().port_forward_socket(sandbox_id, port)
        return socket.create_connection(("127.0.0.1", self.real_port))


@pytest.fixture
def sandbox_id(server: Any, stub: Any) -> Iterator[str]:
    """Node n1's kubelet service; Pod web Running on it (its sandbox's id is the value)."""
    capitals = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Capitals)
    threading.Thread(target=capitals.serve_forever, args=(0.05,), daemon=True).start()
    runtime = LoopbackRuntime(capitals.server_address[1])
    made = server._call(runtime.create_sandbox(SandboxSpec("uid-web", "web", "default", "web")), WAIT)
    service, port = server._call(start_log_server(runtime), WAIT)
    make_node(stub, port=port)
    make_pod(stub, name="web")
    set_phase(stub, "web", "Running")
    yield made.id
    server._call(service.stop(0), WAIT)
    capitals.shutdown()
    capitals.server_close()


def set_phase(stub: Any, name: str, phase: str) -> None:
    pod = get(stub, "Pod", name, "default")
    pod.status.phase = phase
    update_status(stub, pod)


def start(port: int = 8080, pod: str = "web") -> kubelet_pb2.PortForwardInput:
    return kubelet_pb2.PortForwardInput(start=kubelet_pb2.PortForwardStart(namespace="default", pod=pod, port=port))


def test_port_forward_relays_both_ways_through_the_apiserver(stub: Any, sandbox_id: str) -> None:
    messages = [start(), kubelet_pb2.PortForwardInput(data=b"hello"), kubelet_pb2.PortForwardInput(data_closed=True)]
    outputs = list(stub.PortForward(iter(messages), timeout=WAIT))
    assert b"".join(o.data for o in outputs) == b"HELLO"


def test_the_kubelets_error_for_a_refused_port_passes_through(stub: Any, sandbox_id: str) -> None:
    outputs = list(stub.PortForward(iter([start(9090)]), timeout=WAIT))
    assert [o.error for o in outputs] == [
        f"error forwarding port 9090 to pod {sandbox_id}, uid : the fake runtime has no network: "
        f'cannot connect to port 9090 in sandbox "{sandbox_id}"']


def test_the_apiserver_checks_the_pod_first(stub: Any, sandbox_id: str) -> None:
    make_pod(stub, name="pending", node="")

    def details(message: kubelet_pb2.PortForwardInput) -> tuple[grpc.StatusCode, str]:
        err = rpc_error(lambda: list(stub.PortForward(iter([message]), timeout=WAIT)))
        return err.code(), err.details()

    assert details(start(pod="ghost")) == (grpc.StatusCode.NOT_FOUND, 'pods "ghost" not found')
    assert details(start(pod="pending")) == (
        grpc.StatusCode.INVALID_ARGUMENT, "unable to forward port because pod is not running. Current status=Pending")
    assert details(start(port=70000)) == (
        grpc.StatusCode.INVALID_ARGUMENT, 'invalid port "70000": must be between 1 and 65535')
    assert details(kubelet_pb2.PortForwardInput(data=b"x")) == (
        grpc.StatusCode.INVALID_ARGUMENT, "the first message of a port-forward must be its start")


# ------------------------------------------------------------------ pykubectl port-forward


def cli(server: Any, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = pykubectl(["--server", server.address, "port-forward", *argv], env={}, stdout=out, stderr=err)
    return rc, out.getvalue(), err.getvalue()


def test_pykubectl_port_forward_bad_input_is_one_line(server: Any, stub: Any, sandbox_id: str) -> None:
    make_pod(stub, name="pending", node="")
    assert cli(server, "pending", "8080") == (
        1, "", "error: unable to forward port because pod is not running. Current status=Pending\n")
    assert cli(server, "ghost", "8080") == (1, "", 'Error from server (NotFound): pods "ghost" not found\n')
    assert cli(server, "web") == (1, "", "error: TYPE/NAME and list of ports are required for port-forward\n")
    assert cli(server, "web", "80:80:80") == (1, "", "error: invalid port format '80:80:80'\n")
    assert cli(server, "web", "http") == (1, "", "error: Pod 'web' does not have a named port 'http'\n")
    assert cli(server, "foo/web", "80") == (1, "", 'error: the server doesn\'t have a resource type "foo"\n')
    assert cli(server, "node/n1", "80") == (
        1, "", "error: cannot attach to *v1.Node: selector for *v1.Node not implemented\n")
    assert cli(server, "--address", "here", "web", "80") == (1, "", "error: here is not a valid IP\n")


class Lines(io.StringIO):
    """A stdout whose lines a test can wait for."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: queue.Queue[str] = queue.Queue()

    def write(self, text: str) -> int:
        for line in text.splitlines():
            self.lines.put(line)
        return super().write(text)


def test_pykubectl_port_forward_serves_connections_until_sigint(server: Any, stub: Any, sandbox_id: str) -> None:
    """In this (the main) thread until the SIGINT a helper thread sends once it is done."""
    out, err = Lines(), io.StringIO()
    seen: dict[str, Any] = {}

    def client() -> None:
        try:
            seen["lines"] = [out.lines.get(timeout=WAIT), out.lines.get(timeout=WAIT)]
            local, refusing = (int(line.split()[2].rsplit(":", 1)[1]) for line in seen["lines"])
            for text in (b"one", b"two"):
                with socket.create_connection(("127.0.0.1", local), timeout=WAIT) as conn:
                    conn.sendall(text)
                    conn.shutdown(socket.SHUT_WR)
                    seen[text] = b"".join(iter(lambda: conn.recv(1024), b""))
            with socket.create_connection(("127.0.0.1", refusing), timeout=WAIT) as conn:
                seen["refused"] = conn.recv(1024)
        finally:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    helper = threading.Thread(target=client)
    helper.start()
    rc = pykubectl(["--server", server.address, "port-forward", "pod/web", "0:8080", ":9090", "--address", "127.0.0.1"],
                   env={}, stdout=out, stderr=err)
    helper.join(WAIT)
    assert rc == 0
    assert [line.rsplit(":", 1)[0] for line in seen["lines"]] == ["Forwarding from 127.0.0.1"] * 2
    assert [line.split(" -> ")[1] for line in seen["lines"]] == ["8080", "9090"]
    assert (seen[b"one"], seen[b"two"], seen["refused"]) == (b"ONE", b"TWO", b"")
    assert out.getvalue().count("Handling connection for ") == 3
    refusing = seen["lines"][1].split()[2].rsplit(":", 1)[1]
    assert err.getvalue() == (f"an error occurred forwarding {refusing} -> 9090: error forwarding port 9090 to pod "
                              f"{sandbox_id}, uid : the fake runtime has no network: cannot connect to port 9090 "
                              f'in sandbox "{sandbox_id}"\n')


def test_services_and_deployments_forward_to_a_running_pod_of_their_selector(server: Any, stub: Any,
                                                                             sandbox_id: str) -> None:
    web = get(stub, "Pod", "web", "default")
    web.metadata.labels["app"] = "web"
    stub.Update(api_pb2.UpdateRequest(object=wrap(web)))
    make_pod(stub, name="web-pending", node="")
    pending = get(stub, "Pod", "web-pending", "default")
    pending.metadata.labels["app"] = "web"
    stub.Update(api_pb2.UpdateRequest(object=wrap(pending)))
    svc = api_pb2.Object()
    svc.service.metadata.name = "web"
    svc.service.spec.selector["app"] = "web"
    svc.service.spec.ports.add(name="web", port=80).target_port.int_val = 8080
    create(stub, svc)
    create(stub, deployment("web"))
    ctx = Context(settings=Settings(server.address, "default"), connect=lambda: stub, out=io.StringIO(),
                  err=io.StringIO(), stdin=io.StringIO())

    pod, forwards = resolve_target("svc/web", ["80", "8000:web"], ctx)
    assert (pod.metadata.name, forwards) == ("web", [ForwardedPort(80, 8080), ForwardedPort(8000, 8080)])
    pod, forwards = resolve_target("deploy/web", [":8080"], ctx)
    assert (pod.metadata.name, forwards) == ("web", [ForwardedPort(0, 8080)])
    create(stub, deployment("empty"))
    with pytest.raises(CliError, match=r"^no pods found for deployment/empty \(selector app=empty\)$"):
        resolve_target("deployment/empty", ["8080"], ctx)
