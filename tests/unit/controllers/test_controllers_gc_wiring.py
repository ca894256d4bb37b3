"""Deleting a ReplicaSet with Pods in the three propagation modes, against a real
in-process apiserver with the ReplicaSet controller and the garbage collector."""

from __future__ import annotations

import asyncio

from test_controllers_manager_support import Cluster, eventually, in_cluster, make_rs

from client.api import is_not_found
from controllers.garbage_collector import GarbageCollector
from controllers.replicaset import ReplicaSetController


def setup(cluster: Cluster) -> None:
    cluster.add("replicaset", ReplicaSetController, "replicaset-controller")
    cluster.add("gc", GarbageCollector, "garbage-collector")


async def rs_exists(cluster: Cluster, name: str = "web"):
    try:
        return await cluster.api.get("ReplicaSet", name, "default")
    except Exception as err:
        if is_not_found(err):
            return None
        raise


def pod_count(cluster: Cluster, n: int):
    async def check():
        return len(await cluster.pods()) == n
    return check


def test_background_deletion_removes_the_pods_after_the_owner():
    async def scenario(cluster: Cluster):
        setup(cluster)
        await cluster.start()
        await cluster.api.create(make_rs("web", 3))
        await eventually("3 pods", pod_count(cluster, 3))
        await cluster.api.delete("ReplicaSet", "web", "default")  # default: Background
        assert await rs_exists(cluster) is None  # the owner goes at once
        await eventually("pods collected", pod_count(cluster, 0))
    in_cluster(scenario)


def test_foreground_deletion_removes_the_pods_first():
    async def scenario(cluster: Cluster):
        setup(cluster)
        await cluster.start()
        await cluster.start_kubelet("n1")
        cluster.keep_binding(lambda: "n1")
        await cluster.api.create(make_rs("web", 2, grace=1))
        async def running():
            pods = await cluster.pods()
            return len(pods) == 2 and all(p.status.phase == "Running" for p in pods)
        await eventually("2 running pods", running)
        rs_gone_with_pods: list[int] = []
        async def watch_order():
            while True:
                if await rs_exists(cluster) is None:
                    rs_gone_with_pods.append(len(await cluster.pods()))
                    return
                await asyncio.sleep(0.01)
        # Every change to the Pods from here on, in order (a watch, not polling: the
        # fake runtime stops containers at once, so Terminating may last only a moment).
        _, since = await cluster.api.list("Pod", "default")
        pod_events: list[tuple[str, str, bool]] = []
        async def watch_pods():
            async for event, pod in cluster.api.watch("Pod", since, "default"):
                if event != "BOOKMARK":
                    pod_events.append((event, pod.metadata.name, pod.metadata.HasField("deletion_timestamp")))
        pod_watch = asyncio.create_task(watch_pods())
        names = {p.metadata.name for p in await cluster.pods()}
        await cluster.api.delete("ReplicaSet", "web", "default", propagation_policy="Foreground")
        rs = await rs_exists(cluster)
        assert rs is not None and rs.metadata.HasField("deletion_timestamp")
        assert list(rs.metadata.finalizers) == ["foregroundDeletion"]
        watcher = asyncio.create_task(watch_order())
        await eventually("pods gone", pod_count(cluster, 0))
        await asyncio.wait_for(watcher, 10)
        assert rs_gone_with_pods == [0]  # the ReplicaSet went only after its Pods
        pod_watch.cancel()
        await asyncio.gather(pod_watch, return_exceptions=True)
        # The Pods were deleted gracefully (the kubelet stopped them): each was marked
        # Terminating before it was removed.
        for name in names:
            mine = [(event, terminating) for event, n, terminating in pod_events if n == name]
            assert mine and mine[-1][0] == "DELETED", (name, mine)
            assert ("MODIFIED", True) in mine[:-1], (name, mine)
    in_cluster(scenario)


def test_orphan_deletion_keeps_the_pods_and_a_new_rs_adopts_them():
    async def scenario(cluster: Cluster):
        setup(cluster)
        await cluster.start()
        await cluster.api.create(make_rs("web", 3))
        await eventually("3 pods", pod_count(cluster, 3))
        before = sorted(p.metadata.name for p in await cluster.pods())
        await cluster.api.delete("ReplicaSet", "web", "default", propagation_policy="Orphan")
        async def rs_gone():
            return await rs_exists(cluster) is None
        await eventually("rs gone", rs_gone)
        pods = await cluster.pods()
        assert sorted(p.metadata.name for p in pods) == before
        assert all(not p.metadata.owner_references for p in pods)
        await cluster.settled()  # the collector has seen the orphans, and leaves them alone
        assert len(await cluster.pods()) == 3
        new = await cluster.api.create(make_rs("web2", 3, {"app": "web"}))
        async def adopted():
            pods = await cluster.pods()
            return len(pods) == 3 and all(p.metadata.owner_references and
                                          p.metadata.owner_references[0].uid == new.metadata.uid for p in pods)
        await eventually("adopted by the new ReplicaSet", adopted)
        assert sorted(p.metadata.name for p in await cluster.pods()) == before
    in_cluster(scenario)


def test_a_pod_naming_a_missing_owner_is_collected_but_a_live_owner_protects():
    async def scenario(cluster: Cluster):
        cluster.add("gc", GarbageCollector, "garbage-collector")
        await cluster.start()
        owner = await cluster.api.create(make_rs("keeper", 0))
        from test_controllers_manager_support import make_pod, owner_ref

        from protos import meta_pb2
        for name, ref in (("kept", owner_ref(owner)),
                          ("dangling", meta_pb2.OwnerReference(api_version="apps/v1", kind="ReplicaSet",
                                                               name="ghost", uid="no-such-uid", controller=True))):
            pod = make_pod(name, {"app": "x"})
            pod.metadata.uid = ""
            pod.metadata.owner_references.append(ref)
            pod.ClearField("status")
            await cluster.api.create(pod)
        async def only_kept():
            return [p.metadata.name for p in await cluster.pods()] == ["kept"]
        await eventually("dangling collected", only_kept)
        await cluster.settled()
        assert [p.metadata.name for p in await cluster.pods()] == ["kept"]
    in_cluster(scenario)
