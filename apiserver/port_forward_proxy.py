"""API.PortForward: one TCP connection to a port of a Pod, through the kubelet of its node.

``pykubectl port-forward`` talks only to the apiserver, as kubectl does, and opens one call per
connection it accepts. The first message (``PortForwardStart``) is checked against the Pod: it
must exist, be Running (kubectl's words otherwise: ``unable to forward port because pod is not
running. Current status=Pending``) and bound to a node. Then the apiserver opens
pykube.v1.Kubelet.PortForward on that node's kubelet (dialled as for logs and exec, over the same
channels) and relays both ways, exactly as API.Exec does (see exec_proxy.py). The kubelet's own
answers (``pod not found``, a refused port) pass through unchanged.
"""

from __future__ import annotations

from typing import AsyncIterator

import grpc

from apiserver import errors
from apiserver.exec_proxy import open_both_ways, relay_both_ways
from apiserver.logs_proxy import KubeletCall, LogsProxy, bound_node
from protos import core_pb2, kubelet_pb2


def not_running(phase: str) -> errors.APIError:
    return errors.BadRequest(f"unable to forward port because pod is not running. Current status={phase}")


class PortForwardProxy:
    """Resolves a PortForwardStart against the registry and relays the kubelet's stream."""

    def __init__(self, logs: LogsProxy) -> None:
        self.logs = logs  # its registry, and its channels to the kubelets

    def resolve(self, start: kubelet_pb2.PortForwardStart) -> tuple[str, str, kubelet_pb2.PortForwardStart]:
        """(node name, kubelet address, the start to send it), or an APIError."""
        registry = self.logs.registry
        if not 0 < start.port <= 65535:
            raise errors.BadRequest(f'invalid port "{start.port}": must be between 1 and 65535')
        pod: core_pb2.Pod = registry.get("Pod", start.namespace, start.pod)  # type: ignore[assignment]
        if pod.status.phase != "Running":
            raise not_running(pod.status.phase or "Pending")
        node_name, address = bound_node(registry, pod, self.logs.address_types)
        upstream = kubelet_pb2.PortForwardStart()
        upstream.CopyFrom(start)
        upstream.namespace = pod.metadata.namespace
        return node_name, address, upstream

    async def open(self, start: kubelet_pb2.PortForwardStart, timeout: float | None = None) -> KubeletCall:
        """Kubelet.PortForward opened on the Pod's node with the start sent, or an APIError."""
        return await open_both_ways(self.logs, self.resolve, lambda stub: stub.PortForward,
                                    lambda upstream: kubelet_pb2.PortForwardInput(start=upstream), start, timeout)

    def stream(self, requests: AsyncIterator[kubelet_pb2.PortForwardInput],
               context: grpc.aio.ServicerContext) -> AsyncIterator[kubelet_pb2.PortForwardOutput]:
        return relay_both_ways(self.open, "a port-forward", requests, context)
