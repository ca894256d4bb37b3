"""The kubelet's side of ``pykubectl port-forward``: the pump over socketpairs (half-close both
ways), the sandbox choice, Kubelet.PortForward over a real grpc.aio server, and the netns dial
(in this process's own network namespace, to 127.0.0.1 only)."""

from __future__ import annotations

import asyncio
import socket
from typing import AsyncIterator

import grpc
import pytest

from kubelet.log_server import start_log_server
from kubelet.port_forward import PortForwardError, find_sandbox, pump
from kubelet.runtime import ContainerRuntimeError, Sandbox, SandboxSpec
from kubelet.runtime.fake import FakeRuntime
from kubelet.runtime.podman_portforward import dial_in_netns, infra_pid
from protos import kubelet_pb2, kubelet_pb2_grpc

TIMEOUT = 10.0


def data(payload: bytes) -> kubelet_pb2.PortForwardInput:
    return kubelet_pb2.PortForwardInput(data=payload)


CLOSED = kubelet_pb2.PortForwardInput(data_closed=True)


async def inputs(*items: kubelet_pb2.PortForwardInput, then: asyncio.Event | None = None
                 ) -> AsyncIterator[kubelet_pb2.PortForwardInput]:
    for item in items:
        yield item
    if then is not None:
        await then.wait()  # the client keeps its side open


async def read_all(sock: socket.socket) -> bytes:
    loop, received = asyncio.get_running_loop(), b""
    while chunk := await loop.sock_recv(sock, 1024):
        received += chunk
    return received


def test_data_closed_half_closes_and_the_pods_answer_still_comes_back() -> None:
    async def scenario() -> tuple[bytes, list[bytes]]:
        pod_side, server = socket.socketpair()
        server.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=pod_side)
        outputs = pump(reader, writer, inputs(data(b"ping "), data(b"pong"), CLOSED))
        collected = asyncio.ensure_future(_collect(outputs))
        request = await read_all(server)  # EOF arrives: data_closed was a shutdown(SHUT_WR)
        await asyncio.get_running_loop().sock_sendall(server, b"answer to " + request)
        server.close()
        return request, await collected

    request, answer = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))
    assert request == b"ping pong"
    assert b"".join(answer) == b"answer to ping pong"


def test_the_pods_close_ends_the_stream_while_the_client_still_has_its_side_open() -> None:
    async def scenario() -> tuple[list[bytes], bytes]:
        pod_side, server = socket.socketpair()
        server.setblocking(False)
        reader, writer = await asyncio.open_connection(sock=pod_side)
        never = asyncio.Event()
        collected = asyncio.ensure_future(_collect(pump(reader, writer, inputs(data(b"hi"), then=never))))
        await asyncio.get_running_loop().sock_sendall(server, b"bye")
        server.shutdown(socket.SHUT_WR)
        answer = await collected
        return answer, await read_all(server)  # the pump closed its connection too

    answer, request = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))
    assert (b"".join(answer), request) == (b"bye", b"hi")


async def _collect(outputs: AsyncIterator[kubelet_pb2.PortForwardOutput]) -> list[bytes]:
    return [o.data async for o in outputs]


def sandbox(pod: str, ready: bool = True, id: str = "sb1") -> Sandbox:
    return Sandbox(id=id, pod_uid="u", pod_name=pod, pod_namespace="default", ip="10.88.0.2", ready=ready)


def test_the_pods_ready_sandbox_is_chosen_else_pod_not_found() -> None:
    assert find_sandbox([sandbox("web", False, "old"), sandbox("web", id="new")], "default", "web").id == "new"
    with pytest.raises(PortForwardError) as info:
        find_sandbox([sandbox("web", False)], "default", "web")
    assert (info.value.code, info.value.message) == (grpc.StatusCode.NOT_FOUND, 'pod not found ("web_default")')


# ------------------------------------------------------------------ Kubelet.PortForward


class LoopbackRuntime(FakeRuntime):
    """The fake, whose sandboxes' port ``port`` is a server on this machine's 127.0.0.1:``real``."""

    def __init__(self, ports: dict[int, int]) -> None:
        super().__init__(images=["busybox:1"])
        self.ports = ports

    async def port_forward_socket(self, sandbox_id: str, port: int) -> socket.socket:
        if port not in self.ports:
            return await super().port_forward_socket(sandbox_id, port)
        return socket.create_connection(("127.0.0.1", self.ports[port]))


async def echo_upper(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads to EOF, answers in capitals, closes: needs the half-close to answer at all."""
    writer.write((await reader.read()).upper())
    await writer.drain()
    writer.close()


async def forward(runtime: FakeRuntime, messages: list[kubelet_pb2.PortForwardInput]
                  ) -> list[kubelet_pb2.PortForwardOutput]:
    server, port = await start_log_server(runtime)  # type: ignore[arg-type]
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            return [o async for o in kubelet_pb2_grpc.KubeletStub(channel).PortForward(iter(messages))]
    finally:
        await server.stop(0)


def start(port: int, pod: str = "web") -> kubelet_pb2.PortForwardInput:
    return kubelet_pb2.PortForwardInput(start=kubelet_pb2.PortForwardStart(namespace="default", pod=pod, port=port))


def test_kubelet_port_forward_relays_one_connection_both_ways() -> None:
    async def scenario() -> list[kubelet_pb2.PortForwardOutput]:
        echo = await asyncio.start_server(echo_upper, "127.0.0.1", 0)
        runtime = LoopbackRuntime({8080: echo.sockets[0].getsockname()[1]})
        await runtime.create_sandbox(SandboxSpec("uid-web", "web", "default", "web"))
        try:
            return await forward(runtime, [start(8080), data(b"hello "), data(b"pod"), CLOSED])
        finally:
            echo.close()

    outputs = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))
    assert b"".join(o.data for o in outputs) == b"HELLO POD"


def test_a_refused_port_is_one_error_in_kubernetes_words() -> None:
    async def scenario() -> tuple[str, list[kubelet_pb2.PortForwardOutput]]:
        runtime = LoopbackRuntime({})
        made = await runtime.create_sandbox(SandboxSpec("uid-web", "web", "default", "web"))
        return made.id, await forward(runtime, [start(9999)])

    sandbox_id, outputs = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))
    assert [o.WhichOneof("output") for o in outputs] == ["error"]
    assert outputs[0].error == (f"error forwarding port 9999 to pod {sandbox_id}, uid : the fake runtime has no "
                                f'network: cannot connect to port 9999 in sandbox "{sandbox_id}"')


@pytest.mark.parametrize("message, code, details", [
    (start(8080, pod="ghost"), grpc.StatusCode.NOT_FOUND, 'pod not found ("ghost_default")'),
    (start(0), grpc.StatusCode.INVALID_ARGUMENT, 'invalid port "0": must be between 1 and 65535'),
    (data(b"x"), grpc.StatusCode.INVALID_ARGUMENT, "the first message of a port-forward must be its start"),
])
def test_bad_starts_are_refused(message: kubelet_pb2.PortForwardInput, code: grpc.StatusCode, details: str) -> None:
    async def scenario() -> None:
        runtime = LoopbackRuntime({})
        await runtime.create_sandbox(SandboxSpec("uid-web", "web", "default", "web"))
        await forward(runtime, [message])

    with pytest.raises(grpc.aio.AioRpcError) as info:
        asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))
    assert (info.value.code(), info.value.details()) == (code, details)


# ------------------------------------------------------------------ Podman: the netns dial


def test_the_dial_connects_in_the_namespace_and_a_closed_port_reads_as_containerds_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with dial_in_netns("/proc/self/ns/net", "sb1", port) as sock:
            accepted, _ = listener.accept()
            with accepted:
                sock.sendall(b"hi")
                assert accepted.recv(2) == b"hi"
    with pytest.raises(ContainerRuntimeError) as info:
        dial_in_netns("/proc/self/ns/net", "sb1", port)  # the listener is closed now
    assert str(info.value).startswith(
        f'failed to execute portforward in network namespace "/proc/self/ns/net": failed to connect to '
        f'localhost:{port} inside namespace "sb1", IPv4: dial tcp4 127.0.0.1:{port}: connect: connection refused '
        f"IPv6 dial tcp6 [::1]:{port}: connect: ")


def test_a_sandbox_whose_infra_container_is_not_running_has_no_namespace() -> None:
    assert infra_pid("sb1", {"State": {"Running": True, "Pid": 4242}}) == 4242
    for infra in (None, {"State": {"Running": False, "Pid": 0}}):
        with pytest.raises(ContainerRuntimeError, match='sandbox "sb1": its infra container is not running'):
            infra_pid("sb1", infra)
