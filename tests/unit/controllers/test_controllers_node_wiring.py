"""A hollow node whose kubelet stops: it goes Unknown and tainted within the grace
period, its Pods are evicted, replaced elsewhere and finally force-deleted; when
the kubelet comes back the taints go. Short intervals, real in-process apiserver."""

from __future__ import annotations

import asyncio
import time

from test_controllers_manager_support import Cluster, eventually, in_cluster, make_pod, make_rs

from controllers.garbage_collector import GarbageCollector
from controllers.node_lifecycle import (
    UNKNOWN_MESSAGE,
    UNKNOWN_REASON,
    UNREACHABLE_TAINT,
    NodeLifecycleConfig,
    NodeLifecycleController,
)
from controllers.replicaset import ReplicaSetController
from protos import core_pb2

GRACE = 2.0  # ten lease intervals: a loaded machine delays a renewal, never by this much
MONITOR_PERIOD = 0.1  # how often the node lifecycle controller looks at every Node
CONFIG = NodeLifecycleConfig(monitor_period=MONITOR_PERIOD, grace_period=GRACE, pod_eviction_timeout=0,
                             terminating_pod_gc_delay=1.0, orphaned_pod_gc_delay=0.5)


def with_node_controller(cluster: Cluster, config: NodeLifecycleConfig = CONFIG) -> NodeLifecycleController:
    return cluster.add("node", lambda a, i, r: NodeLifecycleController(a, i, r, config),  # type: ignore[return-value]
                       "node-controller")


async def node_state(cluster: Cluster, name: str) -> tuple[str, set[str]]:
    node: core_pb2.Node = await cluster.api.get("Node", name)  # type: ignore[assignment]
    ready = next((c.status for c in node.status.conditions if c.type == "Ready"), "")
    return ready, {f"{t.key}:{t.effect}" for t in node.spec.taints}


UNREACHABLE = {f"{UNREACHABLE_TAINT}:NoExecute", f"{UNREACHABLE_TAINT}:NoSchedule"}


def test_dead_node_is_fenced_its_pods_replaced_and_it_recovers():
    async def scenario(cluster: Cluster):
        cluster.add("replicaset", ReplicaSetController, "replicaset-controller")
        cluster.add("gc", GarbageCollector, "garbage-collector")
        with_node_controller(cluster)
        await cluster.start()
        await cluster.start_kubelet("n1")
        await cluster.start_kubelet("n2")
        target = ["n1"]
        cluster.keep_binding(lambda: target[0])
        await cluster.api.create(make_rs("web", 2, grace=30))  # 30 s: only a force-delete ends them on n1
        async def running_on(node: str):
            pods = await cluster.pods()
            return (len(pods) == 2 and all(p.spec.node_name == node and p.status.phase == "Running"
                                           for p in pods)) and pods
        first = await eventually("2 pods running on n1", lambda: running_on("n1"))
        await asyncio.sleep(GRACE + 0.3)  # healthy nodes stay healthy well past the grace period
        assert await node_state(cluster, "n1") == ("True", set())
        assert await node_state(cluster, "n2") == ("True", set())

        target[0] = "n2"
        stopped = time.monotonic()
        await cluster.stop_kubelet("n1")  # its Lease is no longer renewed
        async def fenced():
            return await node_state(cluster, "n1") == ("Unknown", UNREACHABLE)
        await eventually("n1 Unknown and tainted", fenced, timeout=GRACE + 3)
        assert time.monotonic() - stopped < GRACE + 2.0
        node: core_pb2.Node = await cluster.api.get("Node", "n1")  # type: ignore[assignment]
        for c in node.status.conditions:
            assert (c.status, c.reason, c.message) == ("Unknown", UNKNOWN_REASON, UNKNOWN_MESSAGE)
        assert await node_state(cluster, "n2") == ("True", set())

        # The Pods on n1 are evicted (Terminating), replaced on n2, then force-deleted.
        await eventually("2 pods running on n2", lambda: running_on("n2"), timeout=10)
        left = {p.metadata.name for p in await cluster.pods()}
        assert not left & {p.metadata.name for p in first}
        evictions = await cluster.events("TaintManagerEviction")
        assert sorted(e.message for e in evictions) == sorted(
            f"Marking for deletion Pod default/{p.metadata.name}" for p in first)
        [not_ready] = await cluster.events("NodeNotReady")
        assert (not_ready.involved_object.kind, not_ready.involved_object.name) == ("Node", "n1")
        assert not_ready.source.component == "node-controller"

        # The kubelet comes back: it re-registers (Ready) and renews its Lease.
        await cluster.start_kubelet("n1")
        async def recovered():
            return await node_state(cluster, "n1") == ("True", set())
        await eventually("n1 Ready, taints removed", recovered, timeout=GRACE + 3)
        await cluster.settled()
        assert len(await cluster.pods()) == 2
    in_cluster(scenario, timeout=60)


def test_eviction_timeout_and_tolerations_keep_pods_and_mark_them_not_ready():
    async def scenario(cluster: Cluster):
        with_node_controller(cluster, NodeLifecycleConfig(monitor_period=MONITOR_PERIOD, grace_period=GRACE,
                                                          pod_eviction_timeout=60, terminating_pod_gc_delay=1.0))
        await cluster.start()
        await cluster.start_kubelet("n1")
        for name, tolerate in (("plain", False), ("tolerant", True)):
            pod = make_pod(name, {"app": "x"}, node="n1")
            pod.metadata.uid = ""
            pod.ClearField("status")
            pod.spec.termination_grace_period_seconds = 1
            if tolerate:
                pod.spec.tolerations.add(key=UNREACHABLE_TAINT, operator="Exists", effect="NoExecute")
            await cluster.api.create(pod)
        async def ready_pods():
            pods = await cluster.pods()
            return len(pods) == 2 and all(any(c.type == "Ready" and c.status == "True" for c in p.status.conditions)
                                          for p in pods)
        await eventually("pods ready", ready_pods)
        await cluster.stop_kubelet("n1")
        async def not_ready_marked():
            pods = await cluster.pods()
            return all(any(c.type == "Ready" and c.status == "False" for c in p.status.conditions) for p in pods)
        await eventually("pods marked not ready", not_ready_marked, timeout=GRACE + 3)
        await asyncio.sleep(5 * MONITOR_PERIOD)  # passes of the monitor: none evicts before the timeout
        pods = await cluster.pods()
        assert len(pods) == 2 and not any(p.metadata.HasField("deletion_timestamp") for p in pods)
    in_cluster(scenario)


def test_pods_of_a_deleted_node_are_force_deleted():
    async def scenario(cluster: Cluster):
        with_node_controller(cluster)
        await cluster.start()
        pod = make_pod("stranded", {"app": "x"}, node="gone-node", phase="Running")
        pod.metadata.uid = ""
        pod.ClearField("status")
        await cluster.api.create(pod)
        await cluster.api.delete("Pod", "stranded", "default")  # bound: graceful, stays Terminating
        assert len(await cluster.pods()) == 1
        async def gone():
            return not await cluster.pods()
        await eventually("stranded pod removed", gone, timeout=CONFIG.orphaned_pod_gc_delay + 3)
    in_cluster(scenario)
