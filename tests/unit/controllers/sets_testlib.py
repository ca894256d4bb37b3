"""Helpers the DaemonSet and StatefulSet wiring tests share (no tests here)."""

from __future__ import annotations

import asyncio

import grpc
from test_controllers_manager_support import IMAGE, NOW, Cluster, ts

from client.api import is_conflict
from protos import core_pb2, meta_pb2


async def add_node(cluster: Cluster, name: str, labels: dict[str, str] | None = None) -> core_pb2.Node:
    return await cluster.api.create(core_pb2.Node(metadata=meta_pb2.ObjectMeta(name=name, labels=labels or {})))  # type: ignore[return-value]


async def change(cluster: Cluster, kind: str, name: str, namespace: str, mutate) -> None:
    """Read, mutate, update; again on a conflict."""
    while True:
        obj = await cluster.api.get(kind, name, namespace)
        mutate(obj)
        try:
            await cluster.api.update(obj)
            return
        except grpc.RpcError as err:
            if not is_conflict(err):
                raise
            await asyncio.sleep(0.01)


async def make_running_and_ready(cluster: Cluster, pod: core_pb2.Pod) -> None:
    """Stand in for a kubelet: the Pod is Running and Ready."""
    while True:
        fresh: core_pb2.Pod = await cluster.api.get("Pod", pod.metadata.name, pod.metadata.namespace)  # type: ignore[assignment]
        fresh.status.phase = "Running"
        del fresh.status.conditions[:]
        fresh.status.conditions.add(type="Ready", status="True", last_transition_time=ts(NOW))
        try:
            await cluster.api.update_status(fresh)
            return
        except grpc.RpcError as err:
            if not is_conflict(err):
                raise


__all__ = ["IMAGE", "add_node", "change", "make_running_and_ready"]
