"""The Scheduler's loop and Bind handling, fed through its informer handlers with a
fake API whose Binds we hold open or fail: no server, exact control of timing."""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc
from grpc.aio import AioRpcError, Metadata
from scheduler_testlib import node, pod

from client.api import BatchOpError
from scheduler.framework import SchedulerConfig
from scheduler.scheduler import Scheduler


def rpc_error(code: grpc.StatusCode, details: str) -> AioRpcError:
    return AioRpcError(code, Metadata(), Metadata(), details)


class FakeAPI:
    """Bind waits until released, then answers with what `outcomes` says for that Pod.
    The scheduler sends its Binds in Batch calls (client/batcher.py): batch runs each
    op's Bind concurrently and answers per op, as the apiserver does."""

    call_timeout = 1.0

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started: list[tuple[str, str]] = []
        self.bound: dict[str, str] = {}
        self.outcomes: dict[str, list[Exception]] = {}

    async def bind(self, namespace: str, name: str, node_name: str, uid: str = ""):
        self.started.append((name, node_name))
        await self.release.wait()
        failures = self.outcomes.get(name)
        if failures:
            raise failures.pop(0)
        self.bound[name] = node_name

    async def batch(self, ops):
        async def one(op):
            try:
                return await self.bind(op.bind.namespace, op.bind.name, op.bind.node_name, op.bind.uid)
            except grpc.RpcError as err:
                return BatchOpError(err.code().value[0], err.details())
        return await asyncio.gather(*(one(op) for op in ops))


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str, str]] = []

    def record(self, obj, event_type: str, reason: str, message: str) -> None:
        self.events.append((obj.metadata.name, event_type, reason, message))

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def flush(self, timeout: float = 5.0) -> None:
        return None


async def settle(scheduler: Scheduler, rounds: int = 50) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)
    while scheduler.queue.active_count():
        await asyncio.sleep(0.001)


def with_scheduler(scenario, **config):
    async def main():
        api, recorder = FakeAPI(), FakeRecorder()
        scheduler = Scheduler(api, SchedulerConfig(**config), recorder=recorder)  # type: ignore[arg-type]
        for name in ("n1", "n2", "n3"):
            scheduler.on_node("ADDED", node(name), None)
        loop = asyncio.create_task(scheduler._schedule_loop())
        try:
            await asyncio.wait_for(scenario(scheduler, api, recorder), 10)
        finally:
            loop.cancel()
            api.release.set()
            await asyncio.gather(loop, *scheduler._binds, return_exceptions=True)
    asyncio.run(main())


def test_a_burst_spreads_before_any_bind_returns():
    async def scenario(scheduler, api, recorder):
        for i in range(4):
            scheduler.on_pod("ADDED", pod(f"web-abc-{i}", "rs-web", created=100), None)
        await settle(scheduler)
        # All four are placed (assumed in the cache) and their Binds handed to the
        # binder before any Bind returns; the binder sends them in up to 2 Batch calls.
        assert len(scheduler._in_flight) == 4 and not api.bound
        assert {n: len(scheduler.cache.node_info(n).pods) for n in ("n1", "n2", "n3")} == {"n1": 2, "n2": 1, "n3": 1}
        api.release.set()
        await asyncio.gather(*scheduler._binds)
        assert Counter(api.bound.values()) == {"n1": 2, "n2": 1, "n3": 1}
        assert sorted(e[3] for e in recorder.events) == sorted(
            f"Successfully assigned default/{name} to {n}" for name, n in api.started)
        assert {e[1:3] for e in recorder.events} == {("Normal", "Scheduled")}
        assert scheduler.stats["scheduled"] == 4 and scheduler.idle()
    with_scheduler(scenario)


def test_ten_replicas_land_four_three_three():
    async def scenario(scheduler, api, recorder):
        for i in range(10):
            scheduler.on_pod("ADDED", pod(f"web-abc-{i}", "rs-web", created=100), None)
        await settle(scheduler)
        api.release.set()
        await asyncio.gather(*scheduler._binds)
        assert sorted(Counter(api.bound.values()).values()) == [3, 3, 4]
    with_scheduler(scenario)


def test_informer_confirmation_before_the_bind_reply_keeps_the_count():
    async def scenario(scheduler, api, recorder):
        p = pod("web-abc-0", "rs-web")
        scheduler.on_pod("ADDED", p, None)
        await settle(scheduler)
        (_, chosen), = api.started
        bound = pod("web-abc-0", "rs-web", uid=p.metadata.uid, node_name=chosen)
        scheduler.on_pod("MODIFIED", bound, p)  # the watch is faster than the Bind reply
        api.release.set()
        await asyncio.gather(*scheduler._binds)
        assert scheduler.cache.counts()[chosen] == 1 and not scheduler.cache.is_assumed(p.metadata.uid)
    with_scheduler(scenario)


def test_already_assigned_forgets_the_assumption_and_does_not_retry():
    async def scenario(scheduler, api, recorder):
        p = pod("web-abc-0", "rs-web")
        api.outcomes["web-abc-0"] = [rpc_error(grpc.StatusCode.ABORTED, 'pod web-abc-0 is already assigned to node "n3"')]
        scheduler.on_pod("ADDED", p, None)
        await settle(scheduler)
        api.release.set()
        await asyncio.gather(*scheduler._binds)
        assert scheduler.cache.counts() == {"n1": 0, "n2": 0, "n3": 0}
        assert len(scheduler.queue) == 0 and scheduler.stats["bind_conflicts"] == 1
        # The informer then tells where it went.
        scheduler.on_pod("MODIFIED", pod("web-abc-0", "rs-web", uid=p.metadata.uid, node_name="n3"), p)
        assert scheduler.cache.counts() == {"n1": 0, "n2": 0, "n3": 1}
        assert recorder.events == []
    with_scheduler(scenario)


def test_other_bind_errors_forget_and_retry_after_backoff():
    async def scenario(scheduler, api, recorder):
        api.outcomes["web-abc-0"] = [rpc_error(grpc.StatusCode.UNAVAILABLE, "connection refused")]
        scheduler.on_pod("ADDED", pod("web-abc-0", "rs-web"), None)
        await settle(scheduler)
        api.release.set()
        while "web-abc-0" not in api.bound:
            await asyncio.sleep(0.01)
        assert [n for n, _ in api.started] == ["web-abc-0", "web-abc-0"]
        assert scheduler.stats["bind_errors"] == 1
        assert [e[1:] for e in recorder.events] == [
            ("Warning", "FailedScheduling", "Binding rejected: UNAVAILABLE: connection refused"),
            ("Normal", "Scheduled", f"Successfully assigned default/web-abc-0 to {api.bound['web-abc-0']}")]
    with_scheduler(scenario, initial_backoff=0.05, max_backoff=0.1)


def test_a_pod_deleted_during_its_bind_is_not_retried():
    async def scenario(scheduler, api, recorder):
        p = pod("web-abc-0", "rs-web")
        api.outcomes["web-abc-0"] = [rpc_error(grpc.StatusCode.UNAVAILABLE, "timeout")]
        scheduler.on_pod("ADDED", p, None)
        await settle(scheduler)
        scheduler.on_pod("DELETED", p, p)
        assert sum(scheduler.cache.counts().values()) == 0
        api.release.set()
        await asyncio.gather(*scheduler._binds)
        assert len(scheduler.queue) == 0
    with_scheduler(scenario)


def test_unschedulable_pod_backs_off_and_a_new_node_brings_it_back():
    async def scenario(scheduler, api, recorder):
        scheduler.on_pod("ADDED", pod("big", memory="64Gi"), None)
        await settle(scheduler)
        assert recorder.events == [("big", "Warning", "FailedScheduling",
                                    "0/3 nodes are available: 3 Insufficient memory.")]
        assert scheduler.queue.backoff_count() == 1
        scheduler.on_node("MODIFIED", node("n2"), node("n2"))  # a heartbeat: nothing changes
        await settle(scheduler)
        assert scheduler.queue.backoff_count() == 1
        scheduler.on_node("ADDED", node("n4", memory="128Gi"), None)
        await settle(scheduler)
        assert api.started == [("big", "n4")]
    with_scheduler(scenario, initial_backoff=60, max_backoff=60)


def test_pods_of_other_schedulers_and_bound_pods_are_not_queued():
    async def scenario(scheduler, api, recorder):
        other = pod("gpu")
        other.spec.scheduler_name = "gpu-scheduler"
        scheduler.on_pod("ADDED", other, None)
        scheduler.on_pod("ADDED", pod("static", node_name="n1"), None)
        await settle(scheduler)
        assert api.started == [] and scheduler.cache.counts()["n1"] == 1
    with_scheduler(scenario)
