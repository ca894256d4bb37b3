"""API.Exec: run a command in a Pod's container through the kubelet of the Pod's node.

``pykubectl exec`` talks only to the apiserver, as kubectl does: the first message of the
stream (``ExecStart``) is checked against the Pod (does it exist, which container, is it
bound, is it still running), then the apiserver opens pykube.v1.Kubelet.Exec on that node's
kubelet (found and dialled as for logs, over the same channels: see logs_proxy.py), sends the
start on, and relays both ways: stdin and resizes to the kubelet, output and the exit code
back. The kubelet's own answers pass through unchanged; failing to reach it is INTERNAL
naming the node, as for logs. That relay (``relay_both_ways``) serves API.PortForward too;
``ExecProxy.open`` is what the Kubernetes HTTP API's ``/exec`` relays (apiserver/rest/streams.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, AsyncIterator, Awaitable, Callable

import grpc

from apiserver import errors
from apiserver.logs_proxy import KubeletCall, LogsProxy, bound_node, relay_to_grpc
from protos import core_pb2, kubelet_pb2, kubelet_pb2_grpc


def exec_container(pod: core_pb2.Pod, requested: str) -> str:
    """The container to exec in: the one named, else the Pod's first (kubectl's default)."""
    names = [c.name for c in pod.spec.containers]
    if not requested:
        return names[0]
    if requested not in names:
        raise errors.NotFound(f'container not found ("{requested}")')
    return requested


class ExecProxy:
    """Resolves an ExecStart against the registry and relays the kubelet's Exec stream."""

    def __init__(self, logs: LogsProxy) -> None:
        self.logs = logs  # its registry, and its channels to the kubelets

    def resolve(self, start: kubelet_pb2.ExecStart) -> tuple[str, str, kubelet_pb2.ExecStart]:
        """(node name, kubelet address, the start to send it), or an APIError."""
        registry = self.logs.registry
        pod: core_pb2.Pod = registry.get("Pod", start.namespace, start.pod)  # type: ignore[assignment]
        if not start.command:
            raise errors.BadRequest("you must specify at least one command for the container")
        container = exec_container(pod, start.container)
        if pod.status.phase in ("Succeeded", "Failed"):
            raise errors.BadRequest(f"cannot exec into a container in a completed pod; current phase is "
                                    f"{pod.status.phase}")
        node_name, address = bound_node(registry, pod, self.logs.address_types)
        upstream = kubelet_pb2.ExecStart()
        upstream.CopyFrom(start)
        upstream.namespace = pod.metadata.namespace
        upstream.container = container
        return node_name, address, upstream

    async def open(self, start: kubelet_pb2.ExecStart, timeout: float | None = None) -> KubeletCall:
        """Kubelet.Exec opened on the Pod's node with the start sent, or an APIError; then
        the caller writes ExecInputs (stdin, its end, resizes) and reads the ExecOutputs."""
        return await open_both_ways(self.logs, self.resolve, lambda stub: stub.Exec,
                                    lambda upstream: kubelet_pb2.ExecInput(start=upstream), start, timeout)

    def stream(self, requests: AsyncIterator[kubelet_pb2.ExecInput],
               context: grpc.aio.ServicerContext) -> AsyncIterator[kubelet_pb2.ExecOutput]:
        return relay_both_ways(self.open, "an exec", requests, context)


async def open_both_ways(logs: LogsProxy, resolve: Callable[[Any], tuple[str, str, Any]],
                         method: Callable[[kubelet_pb2_grpc.KubeletStub], Any], wrap_start: Callable[[Any], Any],
                         start: Any, timeout: float | None) -> KubeletCall:
    """A bidirectional kubelet call (exec, port-forward), opened: ``resolve`` checks the start against
    the registry ((node name, kubelet address, the start to send on), or an APIError), then the
    Kubelet call (``method`` of the node's stub) is opened and given that start."""
    node_name, address, upstream = resolve(start)
    channel = await logs.open_channel(node_name, address)
    call = KubeletCall(method(kubelet_pb2_grpc.KubeletStub(channel))(timeout=timeout), node_name, address)
    await call.write(wrap_start(upstream))  # if the call is already over, reading it says why
    return call


async def relay_both_ways(open_call: Callable[[Any, float | None], Awaitable[KubeletCall]], what: str,
                          requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
    """The gRPC face of a bidirectional stream proxied to a kubelet: the client's first message must be
    its start, given to ``open_call`` (an APIError aborts); every later client message goes on to
    the kubelet, and its answers come back as for logs."""
    first = await anext(aiter(requests), None)
    if first is None or first.WhichOneof("input") != "start":
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the first message of {what} must be its start")
    try:
        call = await open_call(first.start, context.time_remaining())
    except errors.APIError as err:
        await context.abort(err.code, err.message)

    async def forward() -> None:
        async for item in requests:
            if not await call.write(item):
                return
        await call.done_writing()

    forwarder = asyncio.create_task(forward())
    try:
        async for output in relay_to_grpc(call, context):
            yield output
    finally:
        forwarder.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await forwarder
