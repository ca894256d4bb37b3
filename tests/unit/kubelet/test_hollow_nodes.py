"""Hollow nodes: many real kubelets on fake runtimes in one process, one channel."""

from __future__ import annotations

import asyncio
import time

from apiserver.main import APIServer, ServerConfig
from client.api import AsyncAPI
from kubelet.config import KubeletConfig
from kubelet.hollow import HollowNodes, node_names, parse_args
from protos import core_pb2, meta_pb2

IMAGE = "docker.io/library/multi-worker:1.0"


def bound_pod(name: str, node: str) -> core_pb2.Pod:
    p = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace="default"),
                     spec=core_pb2.PodSpec(node_name=node, termination_grace_period_seconds=1))
    p.spec.containers.add(name="main", image=IMAGE)
    return p


async def eventually(what, check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_node_names_and_args():
    assert node_names(3) == ["hollow-1", "hollow-2", "hollow-3"]
    assert node_names(2, "h-", first=5) == ["h-5", "h-6"]
    args = parse_args(["--nodes", "7", "--server", "127.0.0.1:1"])
    assert args.nodes == 7 and args.prefix == "hollow-"


def test_five_hollow_nodes_register_ready_and_run_bound_pods():
    async def main():
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        api = AsyncAPI(server.address)  # the one channel all hollow kubelets share
        names = node_names(5)
        hollow = HollowNodes(api, names, config_template=KubeletConfig(node_name="", lease_interval=0.3))
        try:
            await asyncio.wait_for(hollow.start(), 20)
            assert all(k.api is api for k in hollow.kubelets)

            async def ready_nodes():
                nodes = (await api.list("Node"))[0]
                ready = {n.metadata.name for n in nodes
                         if {c.type: c.status for c in n.status.conditions}.get("Ready") == "True"}
                return ready if ready == set(names) else None
            await eventually("5 Ready nodes", ready_nodes)

            async def leases():
                leases = (await api.list("Lease", namespace="kube-node-lease"))[0]
                return {lease.metadata.name for lease in leases} >= set(names)
            await eventually("a Lease per node", leases)

            for i, node in enumerate(names * 2):
                await api.create(bound_pod(f"p{i}", node))

            async def all_running():
                pods = (await api.list("Pod", namespace="default"))[0]
                running = [p for p in pods if p.status.phase == "Running"
                           and p.status.container_statuses and p.status.container_statuses[0].ready]
                return running if len(running) == 10 else None
            running = await eventually("10 Pods Running", all_running)
            assert {p.spec.node_name for p in running} == set(names)
            assert all(p.status.pod_ip and p.status.host_ip for p in running)
            # Each kubelet runs only its own node's Pods.
            for kubelet in hollow.kubelets:
                assert len(kubelet.runtime.sandboxes) == 2
        finally:
            await hollow.stop()
            await api.close()
            await server.stop(0)
    asyncio.run(main())
