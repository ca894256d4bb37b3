"""The node IPAM controller against a real in-process apiserver: Nodes get distinct
podCIDRs, a restarted controller keeps them, an exhausted range says so once and a
deleted Node's block goes to the Node that waited for it."""

from __future__ import annotations

import asyncio

from test_controllers_manager_support import Cluster, eventually, in_cluster

from client.events import EventRecorder
from client.informer import SharedInformers
from controllers.node_ipam import NodeIPAMConfig, NodeIPAMController
from protos import core_pb2, meta_pb2


def with_ipam(cluster: Cluster, config: NodeIPAMConfig | None = None) -> NodeIPAMController:
    return cluster.add("ipam", lambda a, i, r: NodeIPAMController(a, i, r, config),  # type: ignore[return-value]
                       "cidrAllocator")


async def add_node(cluster: Cluster, name: str) -> None:
    await cluster.api.create(core_pb2.Node(metadata=meta_pb2.ObjectMeta(name=name)))


async def pod_cidrs(cluster: Cluster) -> dict[str, tuple[str, tuple[str, ...]]]:
    nodes, _ = await cluster.api.list("Node")
    return {n.metadata.name: (n.spec.pod_cidr, tuple(n.spec.pod_cidrs)) for n in nodes}  # type: ignore[attr-defined]


def all_allocated(cluster: Cluster, count: int):
    async def check():
        found = await pod_cidrs(cluster)
        return found if len(found) == count and all(c for c, _ in found.values()) else None
    return check


def test_nodes_get_distinct_blocks_that_survive_a_restart():
    async def scenario(cluster: Cluster):
        with_ipam(cluster)
        await cluster.start()
        await add_node(cluster, "n1")
        await add_node(cluster, "n2")
        found = await eventually("both Nodes have a podCIDR", all_allocated(cluster, 2))
        assert found == {"n1": ("10.88.0.0/24", ("10.88.0.0/24",)), "n2": ("10.88.1.0/24", ("10.88.1.0/24",))}

        # A second controller (a restarted controller-manager) learns the used blocks first.
        informers = SharedInformers(cluster.api)
        recorder = EventRecorder(cluster.api, "cidrAllocator")
        restarted = NodeIPAMController(cluster.api, informers, recorder)
        informers.start()
        await informers.wait_synced()
        task = asyncio.create_task(restarted.run(2))
        cluster.controllers["ipam"].queue.shut_down()  # the first one stops acting
        try:
            await add_node(cluster, "n3")
            found = await eventually("n3 has a podCIDR", all_allocated(cluster, 3))
            assert found["n3"][0] == "10.88.2.0/24"
            assert found["n1"][0] == "10.88.0.0/24" and found["n2"][0] == "10.88.1.0/24"
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await informers.stop()
    in_cluster(scenario)


def test_exhausted_range_is_reported_once_and_a_freed_block_is_reused():
    async def scenario(cluster: Cluster):
        controller = with_ipam(cluster, NodeIPAMConfig(cluster_cidr="10.88.0.0/23", node_cidr_mask_size=24))
        await cluster.start()
        for name in ("n1", "n2"):
            await add_node(cluster, name)
        await eventually("two blocks handed out", all_allocated(cluster, 2))
        await add_node(cluster, "n3")
        async def reported():
            return await cluster.events("CIDRNotAvailable")
        [event] = await eventually("CIDRNotAvailable", reported)
        assert (event.involved_object.kind, event.involved_object.name) == ("Node", "n3")
        assert (event.type, event.message) == ("Normal", "Node n3 status is now: CIDRNotAvailable")
        assert event.source.component == "cidrAllocator"
        # Nothing retries in a loop: a change to n3 brings no second attempt or event.
        n3 = await cluster.api.get("Node", "n3")
        n3.metadata.labels["poke"] = "1"  # type: ignore[attr-defined]
        await cluster.api.update(n3)
        await cluster.settled("Node")
        [again] = await cluster.events("CIDRNotAvailable")
        assert again.count == 1 and (await pod_cidrs(cluster))["n3"][0] == ""
        assert controller.waiting == {"n3"}

        freed = (await pod_cidrs(cluster))["n1"][0]
        await cluster.api.delete("Node", "n1")
        found = await eventually("n3 gets n1's block", all_allocated(cluster, 2))
        assert found["n3"][0] == freed
    in_cluster(scenario)


def test_nodes_that_bring_a_cidr_keep_it_and_their_blocks_are_not_handed_out():
    async def scenario(cluster: Cluster):
        controller = with_ipam(cluster, NodeIPAMConfig(cluster_cidr="10.88.0.0/23", node_cidr_mask_size=24))
        for name, cidr in (("preset", "10.88.0.0/24"), ("foreign", "10.200.0.0/24")):
            node = core_pb2.Node(metadata=meta_pb2.ObjectMeta(name=name))
            node.spec.pod_cidr = cidr
            node.spec.pod_cidrs.append(cidr)
            await cluster.api.create(node)
        await cluster.start()
        await add_node(cluster, "new")
        found = await eventually("the new Node has a podCIDR", all_allocated(cluster, 3))
        assert found["new"][0] == "10.88.1.0/24"
        assert found["preset"][0] == "10.88.0.0/24" and found["foreign"][0] == "10.200.0.0/24"
        assert controller.cidrs.used == {0, 1}
    in_cluster(scenario)
