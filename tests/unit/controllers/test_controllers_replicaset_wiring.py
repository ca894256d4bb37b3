"""The ReplicaSet controller against a real in-process apiserver (no scheduler:
the tests bind Pods themselves where it matters)."""

from __future__ import annotations

import asyncio

import grpc
from test_controllers_manager_support import Cluster, eventually, in_cluster, make_pod, make_rs

from client.api import is_conflict
from controllers.replicaset import ReplicaSetController
from protos import apps_pb2, core_pb2


def with_rs_controller(cluster: Cluster) -> ReplicaSetController:
    return cluster.add("replicaset", ReplicaSetController, "replicaset-controller")  # type: ignore[return-value]


def count_pods(cluster: Cluster, n: int, **kw):
    async def check():
        pods = await cluster.pods(active_only=True)
        return (pods or True) if len(pods) == n else None
    return check


async def rs_status(cluster: Cluster, name: str = "web") -> apps_pb2.ReplicaSetStatus:
    rs = await cluster.api.get("ReplicaSet", name, "default")
    return rs.status  # type: ignore[attr-defined]


async def scale(cluster: Cluster, replicas: int, name: str = "web") -> None:
    while True:
        rs = await cluster.api.get("ReplicaSet", name, "default")
        rs.spec.replicas = replicas  # type: ignore[attr-defined]
        try:
            await cluster.api.update(rs)
            return
        except grpc.RpcError as err:
            if not is_conflict(err):
                raise
            await asyncio.sleep(0.01)


def test_three_replicas_make_exactly_three_pods_under_a_burst_of_triggers():
    async def scenario(cluster: Cluster):
        controller = with_rs_controller(cluster)
        created: list[str] = []
        cluster.informers.get("Pod").add_handler(
            lambda ev, obj, old: created.append(obj.metadata.name) if ev == "ADDED" else None)
        await cluster.start(workers=4)
        rs = await cluster.api.create(make_rs("web", 3))
        # Hammer the controller while the creates are in flight: key re-adds, and
        # RS updates (annotations) that each cause an informer event.
        for i in range(40):
            controller.queue.add("default/web")
            if i % 10 == 0:
                fresh = await cluster.api.get("ReplicaSet", "web", "default")
                fresh.metadata.annotations["poke"] = str(i)  # type: ignore[attr-defined]
                try:
                    await cluster.api.update(fresh)
                except grpc.RpcError as err:  # raced the controller's status write: fine
                    if not is_conflict(err):
                        raise
            await asyncio.sleep(0.002)
        pods = await eventually("3 pods", count_pods(cluster, 3))
        await eventually("status replicas 3", lambda: _status_is(cluster, replicas=3))
        for _ in range(20):
            controller.queue.add("default/web")
        await cluster.settled()
        assert len(await cluster.pods()) == 3
        assert len(created) == 3
        for pod in pods:
            assert pod.metadata.name.startswith("web-") and len(pod.metadata.name) == len("web-") + 5
            [ref] = pod.metadata.owner_references
            assert (ref.kind, ref.name, ref.uid, ref.controller) == ("ReplicaSet", "web", rs.metadata.uid, True)
            assert dict(pod.metadata.labels) == {"app": "web"}
        events = await cluster.events("SuccessfulCreate")
        assert sorted(e.message for e in events) == sorted(f"Created pod: {p.metadata.name}" for p in pods)
        assert {e.source.component for e in events} == {"replicaset-controller"}
        status = await rs_status(cluster)
        assert (status.replicas, status.fully_labeled_replicas, status.observed_generation) == (3, 3, 1)
    in_cluster(scenario)


async def _status_is(cluster: Cluster, **want) -> bool:
    status = await rs_status(cluster)
    return all(getattr(status, k) == v for k, v in want.items())


def test_scale_up_and_down_deleting_unbound_pods_first():
    async def scenario(cluster: Cluster):
        with_rs_controller(cluster)
        await cluster.start()
        await cluster.api.create(make_rs("web", 3))
        await eventually("3 pods", count_pods(cluster, 3))
        await scale(cluster, 5)
        pods = await eventually("5 pods", count_pods(cluster, 5))
        # Bind two Pods (no kubelet runs n1: they stay Pending but are "assigned").
        bound = sorted(p.metadata.name for p in pods)[:2]
        for name in bound:
            await cluster.api.bind("default", name, "n1")
        await scale(cluster, 2)
        left = await eventually("2 pods", count_pods(cluster, 2))
        assert sorted(p.metadata.name for p in left) == bound
        await eventually("status replicas 2", lambda: _status_is(cluster, replicas=2, observed_generation=3))
        deleted = await cluster.events("SuccessfulDelete")
        assert len(deleted) == 3 and all(e.message.startswith("Deleted pod: web-") for e in deleted)
        await scale(cluster, 0)
        # Bound Pods are deleted gracefully: Terminating, no longer counted.
        await eventually("0 active pods", count_pods(cluster, 0))
        await eventually("status replicas 0", lambda: _status_is(cluster, replicas=0))
    in_cluster(scenario)


def test_a_deleted_pod_is_replaced():
    async def scenario(cluster: Cluster):
        with_rs_controller(cluster)
        await cluster.start()
        await cluster.api.create(make_rs("web", 3))
        pods = await eventually("3 pods", count_pods(cluster, 3))
        victim = pods[0].metadata.name
        await cluster.api.delete("Pod", victim, "default")
        async def replaced():
            names = {p.metadata.name for p in await cluster.pods()}
            return len(names) == 3 and victim not in names
        await eventually("a replacement", replaced)
        await cluster.settled()
        assert len(await cluster.pods()) == 3
    in_cluster(scenario)


def test_adopts_orphans_and_releases_relabeled_pods():
    async def scenario(cluster: Cluster):
        with_rs_controller(cluster)
        await cluster.start()
        for name in ("orphan-1", "orphan-2"):
            pod = make_pod(name, {"app": "web"})
            pod.metadata.uid = ""
            pod.metadata.ClearField("creation_timestamp")
            pod.ClearField("status")
            await cluster.api.create(pod)
        rs = await cluster.api.create(make_rs("web", 3))
        pods = await eventually("3 pods", count_pods(cluster, 3))
        names = {p.metadata.name for p in pods}
        assert {"orphan-1", "orphan-2"} <= names  # adopted, only one created
        async def adopted():
            pods = {p.metadata.name: p for p in await cluster.pods()}
            return all(pods[n].metadata.owner_references and
                       pods[n].metadata.owner_references[0].uid == rs.metadata.uid for n in ("orphan-1", "orphan-2"))
        await eventually("ownerReferences set", adopted)
        # Relabel one: the ReplicaSet lets it go and makes a replacement.
        pod: core_pb2.Pod = await cluster.api.get("Pod", "orphan-1", "default")  # type: ignore[assignment]
        pod.metadata.labels["app"] = "debug"
        await cluster.api.update(pod)
        async def released():
            p = await cluster.api.get("Pod", "orphan-1", "default")
            return not p.metadata.owner_references
        await eventually("released", released)
        async def replaced():
            pods = await cluster.pods()
            return len([p for p in pods if p.metadata.labels["app"] == "web"]) == 3
        await eventually("replacement for the released pod", replaced)
    in_cluster(scenario)


def test_ready_and_available_counts_follow_the_kubelet():
    async def scenario(cluster: Cluster):
        with_rs_controller(cluster)
        await cluster.start()
        await cluster.start_kubelet("n1")
        cluster.keep_binding(lambda: "n1")
        await cluster.api.create(make_rs("web", 2))
        await eventually("2 ready, 2 available",
                         lambda: _status_is(cluster, replicas=2, ready_replicas=2, available_replicas=2))
    in_cluster(scenario)
