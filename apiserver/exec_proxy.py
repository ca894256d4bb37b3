"""API.Exec: run a command in a Pod's container through the kubelet of the Pod's node.

``pykubectl exec`` talks only to the apiserver, as kubectl does: the first message of the
stream (``ExecStart``) is checked against the Pod (does it exist, which container, is it
bound, is it still running), then the apiserver opens pykube.v1.Kubelet.Exec on that node's
kubelet (found and dialled as for logs, over the same channels: see logs_proxy.py), sends the
start on, and relays both ways: stdin and resizes to the kubelet, output and the exit code
back. The kubelet's own answers pass through unchanged; failing to reach it is INTERNAL
naming the node, as for logs.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

import grpc

from apiserver import errors
from apiserver.logs_proxy import LogsProxy, kubelet_address
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
        if not pod.spec.node_name:
            raise errors.BadRequest(f"pod {pod.metadata.name} does not have a host assigned")
        node: core_pb2.Node = registry.get("Node", "", pod.spec.node_name)  # type: ignore[assignment]
        upstream = kubelet_pb2.ExecStart()
        upstream.CopyFrom(start)
        upstream.namespace = pod.metadata.namespace
        upstream.container = container
        return node.metadata.name, kubelet_address(node, self.logs.address_types), upstream

    async def stream(self, requests: AsyncIterator[kubelet_pb2.ExecInput],
                     context: grpc.aio.ServicerContext) -> AsyncIterator[kubelet_pb2.ExecOutput]:
        first = await anext(aiter(requests), None)
        if first is None or first.WhichOneof("input") != "start":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first message of an exec must be its start")
        try:
            node_name, address, upstream = self.resolve(first.start)
        except errors.APIError as err:
            await context.abort(err.code, err.message)
        channel = await self.logs.open_channel(node_name, address, context)
        call = kubelet_pb2_grpc.KubeletStub(channel).Exec(timeout=context.time_remaining())

        async def forward() -> None:
            await call.write(kubelet_pb2.ExecInput(start=upstream))
            async for item in requests:
                await call.write(item)
            await call.done_writing()

        forwarder = asyncio.create_task(forward())
        try:
            async for output in self.logs.relay(call, node_name, address, context):
                yield output
        finally:
            forwarder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await forwarder
