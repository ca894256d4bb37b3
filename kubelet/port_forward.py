"""The kubelet's side of ``pykubectl port-forward``: pykube.v1.Kubelet.PortForward.

Only the apiserver calls it (``pykubectl port-forward`` → API.PortForward → here), as
Kubernetes' apiserver proxies ``/portforward`` to the kubelet. One call carries one TCP
connection: the first message (``PortForwardStart``) names the Pod and the port; the kubelet
finds the Pod's sandbox and has the runtime open a connection to ``127.0.0.1:<port>`` *inside the
sandbox's network namespace* (what the CRI's PortForward does), so a server that listens only on
the Pod's own localhost is reachable too, and no route to the Pod's IP is needed.

Then bytes are pumped both ways until the Pod's side closes:

* client → Pod: ``data`` is written to the connection; ``data_closed`` (or the end of the
  client's stream) is a half-close, ``shutdown(SHUT_WR)``: the Pod's server reads EOF but can
  still answer (``nc -N``, an HTTP/1.0 client);
* Pod → client: what the server sends becomes ``data``; its EOF ends the call.

A port nobody listens on is not a failed call but one ``error`` message in Kubernetes' words
(``error forwarding port 8080 to pod <sandbox id>, uid : failed to execute portforward in
network namespace ...: connection refused``), which pykubectl prints for that connection while
it goes on serving others. A Pod this node does not run is ``pod not found ("web_default")``
(NOT_FOUND), as the kubelet answers.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator, Iterable

import grpc
import structlog

from kubelet.exec_server import read_start
from kubelet.runtime import ContainerRuntimeError, Runtime, Sandbox
from protos import kubelet_pb2

log = structlog.get_logger("kubelet.portforward")

READ_SIZE = 64 * 1024  # per data message: far below gRPC's 4 MiB cap


class PortForwardError(Exception):
    """Why the forward cannot start; becomes the call's gRPC status (code + message)."""

    def __init__(self, message: str, code: grpc.StatusCode) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def find_sandbox(sandboxes: Iterable[Sandbox], namespace: str, pod: str) -> Sandbox:
    """The Pod's running sandbox (its network namespace), or the kubelet's ``pod not found``."""
    for sandbox in sandboxes:
        if sandbox.pod_namespace == namespace and sandbox.pod_name == pod and sandbox.ready:
            return sandbox
    raise PortForwardError(f'pod not found ("{pod}_{namespace}")', grpc.StatusCode.NOT_FOUND)


def forwarding_error(port: int, sandbox_id: str, reason: str) -> str:
    """Kubernetes' kubelet's words for a forward that could not connect (the CRI's reason after)."""
    return f"error forwarding port {port} to pod {sandbox_id}, uid : {reason}"


def check_start(start: kubelet_pb2.PortForwardStart) -> None:
    if not start.pod:
        raise PortForwardError("a pod must be specified", grpc.StatusCode.INVALID_ARGUMENT)
    if not 0 < start.port <= 65535:
        raise PortForwardError(f'invalid port "{start.port}": must be between 1 and 65535',
                               grpc.StatusCode.INVALID_ARGUMENT)


async def feed(writer: asyncio.StreamWriter, requests: AsyncIterator[kubelet_pb2.PortForwardInput]) -> None:
    """Client → Pod until ``data_closed`` or the end of the client's stream: then half-close."""
    try:
        async for item in requests:
            which = item.WhichOneof("input")
            if which == "data":
                writer.write(item.data)
                await writer.drain()
            elif which == "data_closed":
                break
        if not writer.is_closing():
            writer.write_eof()  # shutdown(SHUT_WR): the Pod's server reads EOF, may still answer
    except ConnectionError:
        pass  # the Pod's side went away: the reader sees it too and ends the call


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
               requests: AsyncIterator[kubelet_pb2.PortForwardInput]) -> AsyncIterator[kubelet_pb2.PortForwardOutput]:
    """Both directions of one connection; ends when the Pod's side closes (or resets)."""
    feeder = asyncio.create_task(feed(writer, requests))
    try:
        while True:
            try:
                data = await reader.read(READ_SIZE)
            except ConnectionError:
                return
            if not data:
                return
            yield kubelet_pb2.PortForwardOutput(data=data)
    finally:
        # Done, or the client went away (cancelled): the connection must not outlive the call.
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await feeder
        writer.close()


async def port_forward_stream(runtime: Runtime, requests: AsyncIterator[kubelet_pb2.PortForwardInput],
                              context: grpc.aio.ServicerContext) -> AsyncIterator[kubelet_pb2.PortForwardOutput]:
    """The body of Kubelet.PortForward."""
    start = await read_start(requests, context, "a port-forward")
    try:
        check_start(start)
        sandbox = find_sandbox(await runtime.list_sandboxes(), start.namespace, start.pod)
    except PortForwardError as err:
        await context.abort(err.code, err.message)
    except ContainerRuntimeError as err:
        await context.abort(grpc.StatusCode.INTERNAL, f"failed to list pod sandboxes: {err}")
    try:
        sock = await runtime.port_forward_socket(sandbox.id, start.port)
    except ContainerRuntimeError as err:
        log.info("port-forward refused", namespace=start.namespace, pod=start.pod, port=start.port, reason=str(err))
        yield kubelet_pb2.PortForwardOutput(error=forwarding_error(start.port, sandbox.id, str(err)))
        return
    log.debug("port-forward", namespace=start.namespace, pod=start.pod, port=start.port)
    try:
        reader, writer = await asyncio.open_connection(sock=sock, limit=READ_SIZE)
    except BaseException:
        sock.close()
        raise
    async for output in pump(reader, writer, requests):
        yield output
