"""The whole scheduler (informers, cache, queue, framework, Binds, Events) against a
real in-process apiserver. Nodes are plain objects with a Ready condition and
capacity, as a kubelet would register them; no kubelet runs."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

from scheduler_testlib import cordoned_node, node, pod, unreachable_node

from apiserver.main import APIServer, ServerConfig
from client.api import AsyncAPI
from protos import core_pb2
from scheduler.framework import SchedulerConfig
from scheduler.scheduler import Scheduler

RS_UID = "0b9c6a52-6d54-4c1e-9f3e-3d1f2a7c1e01"


async def eventually(what: str, check: Callable, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def in_cluster(scenario, nodes: list[core_pb2.Node], **config):
    """Run scenario(api, start_scheduler) with an apiserver holding `nodes`; tear all down."""
    async def main():
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        api = AsyncAPI(server.address)
        schedulers: list[Scheduler] = []

        async def start_scheduler() -> Scheduler:
            scheduler = Scheduler(api, SchedulerConfig(**config))
            await asyncio.wait_for(scheduler.start(), 5)
            schedulers.append(scheduler)
            return scheduler
        try:
            for n in nodes:
                await api.create(n)
            await asyncio.wait_for(scenario(api, start_scheduler), 30)
        finally:
            for scheduler in schedulers:
                await scheduler.stop()
            await api.close()
            await server.stop(0)
    asyncio.run(main())


def replica(**kwargs) -> core_pb2.Pod:
    """A Pod as the ReplicaSet controller creates it: generateName, owner, no uid yet."""
    p = pod("", RS_UID, **kwargs)
    p.metadata.generate_name = "web-abc-"
    p.metadata.ClearField("creation_timestamp")
    return p


def bound_pods(api: AsyncAPI, expected: int):
    async def check():
        pods, _ = await api.list("Pod", "default")
        bound = [p for p in pods if p.spec.node_name]
        return bound if len(bound) == expected and len(pods) == expected else None
    return check


async def events(api: AsyncAPI, name: str, reason: str) -> list[core_pb2.Event]:
    items, _ = await api.list("Event", "default", field_selector=f"involvedObject.name={name}")
    return [e for e in items if e.reason == reason]


CLUSTER = [node("n1"), node("n2"), node("n3"), cordoned_node("n4"), unreachable_node("n5")]


def test_four_replicas_land_two_one_one_and_dead_or_cordoned_nodes_get_none():
    async def scenario(api, start_scheduler):
        scheduler = await start_scheduler()
        for _ in range(4):
            await api.create(replica())
        bound = await eventually("4 Pods bound", bound_pods(api, 4))
        assert Counter(p.spec.node_name for p in bound) == {"n1": 2, "n2": 1, "n3": 1}
        for p in bound:
            assert [c.status for c in p.status.conditions if c.type == "PodScheduled"] == ["True"]
        await scheduler.recorder.flush()
        for p in bound:
            scheduled = await eventually("Scheduled event",
                                         lambda name=p.metadata.name: events(api, name, "Scheduled"))
            assert [(e.type, e.message, e.source.component) for e in scheduled] == [
                ("Normal", f"Successfully assigned default/{p.metadata.name} to {p.spec.node_name}",
                 "default-scheduler")]
        assert scheduler.stats["scheduled"] == 4
    in_cluster(scenario, CLUSTER)


def test_replicas_created_before_the_scheduler_starts_spread_four_three_three():
    async def scenario(api, start_scheduler):
        for _ in range(10):
            await api.create(replica())
        await start_scheduler()
        bound = await eventually("10 Pods bound", bound_pods(api, 10))
        counts = Counter(p.spec.node_name for p in bound)
        assert set(counts) == {"n1", "n2", "n3"} and sorted(counts.values()) == [3, 3, 4]
    in_cluster(scenario, CLUSTER)


def test_an_unschedulable_pod_says_why_and_goes_to_a_big_enough_new_node():
    async def scenario(api, start_scheduler):
        scheduler = await start_scheduler()
        big = await api.create(pod("big", memory="64Gi"))
        failed = await eventually("FailedScheduling event", lambda: events(api, "big", "FailedScheduling"))
        assert [(e.type, e.message) for e in failed] == [
            ("Warning", ("0/5 nodes are available: 1 node(s) had untolerated taint "
                         "{node.kubernetes.io/unreachable: }, 1 node(s) were unschedulable, "
                         "3 Insufficient memory."))]
        assert (await api.get("Pod", "big", "default")).spec.node_name == ""
        # The back-off is a minute: only the Node event can bring it back this soon.
        await api.create(node("n6", memory="128Gi"))

        async def on_n6():
            p = await api.get("Pod", "big", "default")
            return p.spec.node_name == "n6"
        await eventually("big bound to n6", on_n6, timeout=3)
        await scheduler.recorder.flush()
        assert [e.message for e in await eventually("Scheduled", lambda: events(api, "big", "Scheduled"))] == [
            "Successfully assigned default/big to n6"]
        assert big.metadata.uid
    in_cluster(scenario, CLUSTER, initial_backoff=60, max_backoff=60)


def test_a_deleted_pod_frees_its_room_for_a_waiting_one():
    async def scenario(api, start_scheduler):
        await start_scheduler()
        await api.create(pod("first"))
        await eventually("first bound", bound_pods(api, 1))
        await api.create(pod("second"))
        failed = await eventually("FailedScheduling", lambda: events(api, "second", "FailedScheduling"))
        assert failed[0].message == "0/1 nodes are available: 1 Too many pods."
        # A bound Pod's delete is graceful: it stays (no kubelet confirms) with a
        # deletionTimestamp, and from then on it no longer holds its slot.
        await api.delete("Pod", "first", "default")
        leaving = await api.get("Pod", "first", "default")
        assert leaving.metadata.HasField("deletion_timestamp")

        async def second_bound():
            return (await api.get("Pod", "second", "default")).spec.node_name == "solo"
        await eventually("second bound", second_bound, timeout=3)
    in_cluster(scenario, [node("solo", pods="1")], initial_backoff=60, max_backoff=60)


def test_a_node_that_goes_unreachable_gets_no_new_pods():
    async def scenario(api, start_scheduler):
        scheduler = await start_scheduler()
        n2 = await api.get("Node", "n2")
        dead = unreachable_node("n2")
        n2.spec.CopyFrom(dead.spec)
        n2 = await api.update(n2)
        n2.status.conditions[0].status = "Unknown"
        await api.update_status(n2)

        async def seen_dead():
            info = scheduler.cache.node_info("n2")
            return not info.ready and info.taints
        await eventually("the scheduler sees n2 unreachable", seen_dead)
        for _ in range(4):
            await api.create(replica())
        bound = await eventually("4 Pods bound", bound_pods(api, 4))
        assert Counter(p.spec.node_name for p in bound) == {"n1": 2, "n3": 2}
    in_cluster(scenario, [node("n1"), node("n2"), node("n3")])
