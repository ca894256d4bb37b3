"""The DaemonSet controller against a real in-process apiserver (no scheduler, no kubelets)."""

from __future__ import annotations

from sets_testlib import IMAGE, add_node, change
from test_controllers_manager_support import Cluster, eventually, in_cluster

from controllers.daemonset import REVISION_LABEL, DaemonSetController
from protos import apps_pb2, meta_pb2


def daemonset(name: str = "agent") -> apps_pb2.DaemonSet:
    ds = apps_pb2.DaemonSet(metadata=meta_pb2.ObjectMeta(name=name, namespace="default"))
    ds.spec.selector.match_labels["app"] = name
    ds.spec.template.metadata.labels["app"] = name
    ds.spec.template.spec.containers.add(name="main", image=IMAGE)
    ds.spec.template.spec.termination_grace_period_seconds = 0
    ds.spec.template.spec.node_selector["role"] = "worker"
    return ds


def pods_on(cluster: Cluster, nodes: set[str]):
    async def check():
        pods = await cluster.pods(active_only=True)
        return (pods or True) if sorted(p.spec.node_name for p in pods) == sorted(nodes) else None
    return check


def test_one_pod_per_matching_node_following_nodes_and_template():
    async def scenario(cluster: Cluster):
        cluster.add("daemonset", DaemonSetController, "daemonset-controller")
        await cluster.start()
        for name in ("n1", "n2"):
            await add_node(cluster, name, {"role": "worker"})
        await add_node(cluster, "cp", {"role": "control-plane"})
        ds = await cluster.api.create(daemonset())
        pods = await eventually("a Pod on n1 and n2", pods_on(cluster, {"n1", "n2"}))
        for pod in pods:
            assert pod.metadata.owner_references[0].uid == ds.metadata.uid
            assert pod.metadata.name.startswith("agent-")
        await add_node(cluster, "n3", {"role": "worker"})
        await eventually("a Pod on n3 too", pods_on(cluster, {"n1", "n2", "n3"}))
        await change(cluster, "Node", "n2", "", lambda node: node.metadata.labels.update(role="gpu"))
        await eventually("n2's Pod gone", pods_on(cluster, {"n1", "n3"}))

        async def status_ok():
            got = (await cluster.api.get("DaemonSet", "agent", "default")).status
            return (got.desired_number_scheduled, got.current_number_scheduled, got.number_misscheduled) == (2, 2, 0)
        await eventually("status 2 desired, 2 current", status_ok)
        # A template change rolls out (the Pods are never Ready here: old unavailable ones go at once).
        await change(cluster, "DaemonSet", "agent", "default",
                     lambda ds: setattr(ds.spec.template.spec.containers[0], "image", IMAGE + "-2"))

        async def updated():
            pods = await pods_on(cluster, {"n1", "n3"})()
            return pods and pods is not True and all(p.spec.containers[0].image == IMAGE + "-2" for p in pods)
        await eventually("every Pod at the new template", updated)
        await cluster.settled()
        pods = await cluster.pods(active_only=True)
        assert len({p.metadata.labels[REVISION_LABEL] for p in pods}) == 1
        assert await cluster.events("SuccessfulCreate")
    in_cluster(scenario)


def test_a_hollow_kubelet_runs_the_daemon_pod_and_deleting_the_set_takes_it_away():
    from controllers.garbage_collector import GarbageCollector

    async def scenario(cluster: Cluster):
        cluster.add("daemonset", DaemonSetController, "daemonset-controller")
        cluster.add("garbagecollector", GarbageCollector, "garbage-collector")
        await cluster.start()
        await cluster.start_kubelet("n1")
        await eventually("node n1 registered", lambda: _node_exists(cluster, "n1"))
        await change(cluster, "Node", "n1", "", lambda node: node.metadata.labels.update(role="worker"))
        await cluster.api.create(daemonset())

        async def ready():
            status = (await cluster.api.get("DaemonSet", "agent", "default")).status
            return (status.desired_number_scheduled, status.number_ready, status.number_available) == (1, 1, 1)
        await eventually("the daemon Pod Running and Ready on n1", ready, timeout=20)
        await cluster.api.delete("DaemonSet", "agent", "default")
        await eventually("its Pod collected", pods_on(cluster, set()), timeout=20)
    in_cluster(scenario)


async def _node_exists(cluster: Cluster, name: str) -> bool:
    items, _ = await cluster.api.list("Node", "")
    return any(n.metadata.name == name for n in items)
