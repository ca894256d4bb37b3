"""The Batcher and the EventRecorder's batched writes, against an in-process
apiserver: many callers share few Batch calls yet each gets its own answer, and
Events are aggregated (count) within a batch and onto the Event written before.
Nothing here measures time; waits are bounded polls."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from apiserver.main import APIServer, ServerConfig
from client.api import AsyncAPI, BatchOpError, is_conflict, is_not_found
from client.batcher import Batcher
from client.events import EventRecorder
from protos import api_pb2, core_pb2, meta_pb2


def pod(name: str) -> core_pb2.Pod:
    p = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace="default"))
    p.spec.containers.add(name="main", image="nginx:1.27")
    return p


async def eventually(what: str, check: Callable[[], Awaitable[Any]], timeout: float = 5.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def with_api(scenario: Callable[[AsyncAPI], Awaitable[None]]) -> None:
    async def main() -> None:
        server = APIServer(ServerConfig(listen="127.0.0.1:0"))
        await server.start()
        api = AsyncAPI(server.address)
        try:
            await asyncio.wait_for(scenario(api), 30)
        finally:
            await api.close()
            await server.stop(0)
    asyncio.run(main())


# ------------------------------------------------------------------ Batcher


def test_concurrent_binds_share_batch_calls_and_each_caller_gets_its_own_answer() -> None:
    async def scenario(api: AsyncAPI) -> None:
        names = [f"p{i}" for i in range(30)]
        for name in names:
            await api.create(pod(name))
        batcher = Batcher(api, max_batch=200, max_in_flight=1)
        try:
            # p0 twice (the second must lose) and a Pod that does not exist.
            calls = [("p0", "n1")] + [(name, f"n{i % 3}") for i, name in enumerate(names)] + [("ghost", "n1")]
            results = await asyncio.gather(*(batcher.bind("default", name, node) for name, node in calls),
                                           return_exceptions=True)
            assert batcher.batches < len(calls)
            assert batcher.batches >= 1
            # Each caller got the answer for its own op.
            assert isinstance(results[0], core_pb2.Pod) and results[0].spec.node_name == "n1"
            second = results[1]
            assert isinstance(second, BatchOpError) and is_conflict(second)
            assert second.details()
            for (name, node), result in zip(calls[2:-1], results[2:-1]):
                assert isinstance(result, core_pb2.Pod), (name, result)
                assert (result.metadata.name, result.spec.node_name) == (name, node)
            assert isinstance(results[-1], BatchOpError) and is_not_found(results[-1])
            assert not is_conflict(results[-1])
            conflicts = [i for i, r in enumerate(results) if isinstance(r, BaseException) and is_conflict(r)]
            assert conflicts == [1]
            assert (await api.get("Pod", "p0", "default")).spec.node_name == "n1"
        finally:
            await batcher.close()
    with_api(scenario)


def test_a_lone_submit_goes_out_at_once() -> None:
    async def scenario(api: AsyncAPI) -> None:
        await api.create(pod("alone"))
        batcher = Batcher(api, max_batch=200, max_in_flight=4)
        try:
            # Nothing else is ever queued: it must not wait for a batch to fill.
            bound = await asyncio.wait_for(batcher.bind("default", "alone", "n1"), 10)
            assert bound.spec.node_name == "n1"
            assert batcher.batches == 1
            op = api_pb2.BatchOp(delete=api_pb2.DeleteRequest(kind="Pod", namespace="default", name="alone",
                                                              grace_period_seconds=0))
            deleted = await asyncio.wait_for(batcher.submit(op), 10)
            assert deleted.metadata.name == "alone"
            assert batcher.batches == 2
        finally:
            await batcher.close()
    with_api(scenario)


class GatedAPI:
    """An AsyncAPI stand-in whose Batch calls wait for a gate: lets a test hold the
    only in-flight slot while more ops queue behind it."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.calls: list[int] = []

    async def batch(self, ops: list[api_pb2.BatchOp]) -> list[Any]:
        self.calls.append(len(ops))
        await self.gate.wait()
        return [core_pb2.Pod() for _ in ops]


def test_close_cancels_queued_and_in_flight_callers() -> None:
    async def main() -> None:
        api = GatedAPI()
        batcher = Batcher(api, max_batch=200, max_in_flight=1)  # type: ignore[arg-type]
        first = asyncio.create_task(batcher.bind("default", "a", "n1"))
        await eventually("the first Batch call in flight", _async(lambda: api.calls == [1]))
        queued = [asyncio.create_task(batcher.bind("default", f"q{i}", "n1")) for i in range(3)]
        await eventually("3 more ops queued behind the held slot", _async(lambda: batcher.submitted == 4))
        assert not any(t.done() for t in [first, *queued])
        await batcher.close()
        done, pending = await asyncio.wait([first, *queued], timeout=2)
        assert not pending, f"{len(pending)} caller(s) left waiting after close()"
        assert all(t.cancelled() for t in done)
        assert api.calls == [1]  # nothing more was sent
    asyncio.run(main())


def _async(check: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
    async def run() -> Any:
        return check()
    return run


def test_a_failed_batch_call_fails_every_op_in_it() -> None:
    class Down:
        async def batch(self, ops: list[api_pb2.BatchOp]) -> list[Any]:
            raise ConnectionError("apiserver down")

    async def main() -> None:
        batcher = Batcher(Down(), max_in_flight=1)  # type: ignore[arg-type]
        results = await asyncio.gather(*(batcher.bind("default", f"p{i}", "n1") for i in range(5)),
                                       return_exceptions=True)
        assert all(isinstance(r, ConnectionError) for r in results)
        await batcher.close()
    asyncio.run(main())


# ------------------------------------------------------------ EventRecorder


async def events_about(api: AsyncAPI, uid: str) -> list[core_pb2.Event]:
    items, _ = await api.list("Event", "default")
    return [e for e in items if e.involved_object.uid == uid]


def test_event_recorder_aggregates_repeats_and_recreates_a_deleted_aggregate() -> None:
    async def scenario(api: AsyncAPI) -> None:
        target = await api.create(pod("web-1"))
        other = await api.create(pod("web-2"))
        recorder = EventRecorder(api, "test-controller", host="h1")
        for _ in range(3):  # before the recorder runs: one batch
            recorder.record(target, "Normal", "Pulled", "Image pulled")
        recorder.record(other, "Normal", "Pulled", "Image pulled")  # another object: its own Event
        recorder.record(target, "Warning", "BackOff", "Back-off")  # another reason: its own Event
        task = asyncio.create_task(recorder.run())
        try:
            async def three() -> list[core_pb2.Event]:
                found = await events_about(api, target.metadata.uid)
                return found if len(found) == 2 else []
            by_reason = {e.reason: e for e in await eventually("target's events", three)}
            pulled = by_reason["Pulled"]
            assert pulled.count == 3
            assert (pulled.type, pulled.message, pulled.source.component) == ("Normal", "Image pulled",
                                                                              "test-controller")
            assert by_reason["BackOff"].count == 1 and by_reason["BackOff"].type == "Warning"
            others = await eventually("other's event", lambda: events_about(api, other.metadata.uid))
            assert [e.count for e in others] == [1]

            # Later: the same Event's count grows (an update, not a new Event).
            recorder.record(target, "Normal", "Pulled", "Image pulled")
            recorder.record(target, "Normal", "Pulled", "Image pulled")

            async def grown() -> core_pb2.Event | None:
                e = await api.get("Event", pulled.metadata.name, "default")
                return e if e.count == 5 else None
            updated = await eventually("count 5", grown)
            assert updated.metadata.uid == pulled.metadata.uid
            assert len([e for e in await events_about(api, target.metadata.uid) if e.reason == "Pulled"]) == 1

            # The aggregate deleted (e.g. by a TTL): recording again creates a new Event.
            await api.delete("Event", pulled.metadata.name, "default")
            recorder.record(target, "Normal", "Pulled", "Image pulled")

            async def recreated() -> list[core_pb2.Event]:
                return [e for e in await events_about(api, target.metadata.uid) if e.reason == "Pulled"]
            [fresh] = await eventually("a recreated Event", recreated)
            assert fresh.metadata.name != pulled.metadata.name
            assert fresh.count == 1

            # And that new Event is the one aggregated onto from now on.
            recorder.record(target, "Normal", "Pulled", "Image pulled")

            async def fresh_grown() -> core_pb2.Event | None:
                e = await api.get("Event", fresh.metadata.name, "default")
                return e if e.count == 2 else None
            await eventually("the new Event's count 2", fresh_grown)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    with_api(scenario)
