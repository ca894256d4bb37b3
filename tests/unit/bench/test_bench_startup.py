"""bench.startup's pure parts: the churn schedule, startup latencies (a Pod never seen
Running is a failure, not an omission), the watch bookkeeping and the load generator's
calls against a stub that answers at once. Nothing here times anything."""

from __future__ import annotations

import asyncio
import itertools
import math

import grpc
import pytest

from bench.startup import (
    LoadGenerator,
    PodWatch,
    Results,
    Settings,
    achieved_rate,
    churn_schedule,
    is_running_ready,
    make_pod,
    parse_args,
    pod_name,
    startup_latencies,
)
from client.api import wrap
from protos import api_pb2, core_pb2


def test_schedule_is_a_steady_stream_with_each_delete_a_lifetime_after_its_create():
    ops = churn_schedule(rate=20, duration=3, lifetime=10)
    creates = [op for op in ops if op.action == "create"]
    deletes = {op.index: op.at for op in ops if op.action == "delete"}
    assert len(creates) == 60 and len(deletes) == 60
    # Evenly spaced 1/rate apart: no bursts.
    gaps = {round(b.at - a.at, 9) for a, b in itertools.pairwise(creates)}
    assert gaps == {0.05}
    assert all(deletes[op.index] == pytest.approx(op.at + 10) for op in creates)
    assert [op.at for op in ops] == sorted(op.at for op in ops)


def test_schedule_puts_a_delete_before_a_create_due_at_the_same_time():
    ops = churn_schedule(rate=1, duration=3, lifetime=1)
    at_one = [op for op in ops if op.at == 1]
    assert [(op.action, op.index) for op in at_one] == [("delete", 0), ("create", 1)]


def test_startup_latencies_count_never_running_pods_as_failures():
    sent = {"a": 1.0, "b": 2.0, "c": 3.0}
    seen = {"a": 1.25, "c": 3.5, "stranger": 9.0}
    latencies, missing = startup_latencies(sent, seen)
    assert sorted(latencies) == [0.25, 0.5]
    assert missing == ["b"]


def test_achieved_rate():
    assert achieved_rate([0.0, 0.5, 1.0, 1.5, 2.0]) == 2.0
    assert math.isnan(achieved_rate([1.0]))
    assert math.isnan(achieved_rate([]))


def running(name: str, ready: str = "True", phase: str = "Running", node: str = "hollow-1") -> core_pb2.Pod:
    pod = make_pod(0)
    pod.metadata.name = name
    pod.spec.node_name = node
    pod.status.phase = phase
    pod.status.conditions.add(type="Ready", status=ready)
    return pod


def test_running_and_ready_is_what_counts():
    assert is_running_ready(running("a"))
    assert not is_running_ready(running("a", ready="False"))
    assert not is_running_ready(running("a", phase="Pending"))
    assert not is_running_ready(make_pod(1))


def event(kind: str, pod: core_pb2.Pod) -> api_pb2.WatchEvent:
    return api_pb2.WatchEvent(type=kind, object=wrap(pod))


def test_watch_notes_first_bound_first_running_and_deleted():
    results = Results(Settings())
    watch = PodWatch(stub=None, results=results)
    created = make_pod(0)
    created.metadata.resource_version = "5"
    watch.on_event(event("ADDED", created), 1.0)
    assert results.bound == {} and results.running == {}
    watch.on_event(event("MODIFIED", running(pod_name(0), ready="False")), 2.0)
    watch.on_event(event("MODIFIED", running(pod_name(0))), 3.0)
    watch.on_event(event("MODIFIED", running(pod_name(0))), 4.0)  # a later status: first one counts
    watch.on_event(event("DELETED", running(pod_name(0))), 5.0)
    assert results.bound == {pod_name(0): 2.0}
    assert results.running == {pod_name(0): 3.0}
    assert results.gone == {pod_name(0)}
    assert watch.revision == "5"


class FakeError(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "no server"


class FakeStub:
    """Answers at once; fails the Creates of the names in fail."""

    def __init__(self, fail: set[str]) -> None:
        self.fail = fail
        self.calls: list[tuple[str, str]] = []

    async def Create(self, request, timeout=None):
        name = request.object.pod.metadata.name
        self.calls.append(("create", name))
        if name in self.fail:
            raise FakeError()
        return request.object

    async def Delete(self, request, timeout=None):
        self.calls.append(("delete", request.name))
        return api_pb2.Object()


def test_load_generator_sends_every_call_in_order_and_records_failures():
    stub = FakeStub(fail={pod_name(2)})
    results = Results(Settings())
    schedule = churn_schedule(rate=200, duration=0.05, lifetime=0.02)  # 10 Pods, in well under a second
    asyncio.run(LoadGenerator(stub, results).run(schedule))
    assert len(results.create_sent) == 10 and len(results.create_latency) == 9
    # The Pod whose Create failed is not deleted; every other one is, after its Create.
    assert sorted(results.delete_sent) == sorted(pod_name(i) for i in range(10) if i != 2)
    assert len(results.delete_latency) == 9
    for i in range(10):
        if i != 2:
            assert stub.calls.index(("create", pod_name(i))) < stub.calls.index(("delete", pod_name(i)))
    assert results.errors == [f"create {pod_name(2)}: UNAVAILABLE no server"]
    assert len(results.lateness) == len(schedule)


def test_parse_args_quick_and_overrides():
    settings, out = parse_args(["--quick"])
    assert (settings.nodes, settings.rate, settings.duration, settings.lifetime) == (50, 20.0, 15.0, 10.0)
    assert out is None
    settings, _ = parse_args(["--nodes", "100", "--duration", "60", "--lifetime", "0"])
    assert (settings.nodes, settings.duration, settings.lifetime) == (100, 60.0, 0.0)
    with pytest.raises(SystemExit):
        parse_args(["--rate", "-1"])
