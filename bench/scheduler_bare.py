"""Scheduler throughput on BARE Node objects (no kubelets): M unbound Pods created at once, until all are bound.

    python -m bench.scheduler_bare                  # 1000 bare Nodes, 10000 Pods
    python -m bench.scheduler_bare --quick          # 100 bare Nodes, 1000 Pods
    python -m bench.scheduler_bare --nodes 1000 --pods 10000 --out results/

This is the scheduler and the apiserver alone, the figure to tune the scheduler's own
cycle with: nothing else runs on the machine. It is NOT the hollow-node figure the
targets hold (bench.scheduler: real kubelets on the fake runtime, their Leases,
watches and status writes, one Create call per Pod); its records are named
``scheduler_bare.*`` so that the two are never confused.

It starts a real ``pykube-apiserver`` (SQLite store in a temp dir) and a real
``pykube-scheduler`` (default profile: NodeReady, TaintToleration, NodeSelector,
ResourcesFit, PodSpread filters; PodSpread 2, LeastAllocated 1, TaintToleration 1
scores), each its own process. The Nodes are created directly through the API with a
Ready condition and capacity (4 cpu, 16 Gi, 110 pods): no kubelets are needed to
measure placement (and nothing else competes for the CPU). Then a Pod watch is opened and M Pods (one container, requests
100m / 64Mi, owned 100 at a time by a ReplicaSet-like owner so spreading has work to
do) are created at once by C concurrent clients, and the benchmark waits until the
watch has shown every Pod with ``spec.nodeName`` set. The clients send their Creates
in Batch calls of B (``--create-batch``, default 50, as ``pykubectl apply`` of many
objects sends one call): one gRPC call per Pod would cost the apiserver more than
scheduling the Pod does (``--create-batch 1`` measures that).

Figures: pods/s from the first Create sent to the last Pod seen bound (the issue's
"created at once → all bound"); the binding rate alone (first bind → last bind);
per-Pod latency from its Create being sent to its bound event arriving, p50/p99;
the scheduler's and the apiserver's CPU per Pod; the spread (min/max Pods per node).
Processes are stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import grpc

from bench.common import (ChildProcess, Record, append_results, apiserver_healthy, log_says, percentile,
                          mode, print_table, proc_memory_mib, run_benchmark, start_apiserver, start_component,
                          wait_until)
from protos import api_pb2, api_pb2_grpc, core_pb2, meta_pb2
from client.api import unwrap, wrap

NAMESPACE = "default"
IMAGE = "docker.io/library/multi-worker:1.0"
PODS_PER_OWNER = 100
START_TIMEOUT = 30.0
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]


@dataclass
class Settings:
    nodes: int = 1000
    pods: int = 10000
    clients: int = 8
    in_flight: int = 32  # Create calls in flight per client
    create_batch: int = 50  # Creates per Batch call (1: one Create call per Pod)
    timeout: float = 300.0
    quick: bool = False


QUICK = Settings(nodes=100, pods=1000, timeout=60.0, quick=True)


def make_node(name: str) -> core_pb2.Node:
    node = core_pb2.Node(metadata=meta_pb2.ObjectMeta(
        name=name, labels={"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}))
    capacity = {"cpu": "4", "memory": "16Gi", "pods": "110"}
    node.status.capacity.update(capacity)
    node.status.allocatable.update(capacity)
    node.status.addresses.add(type="InternalIP", address="127.0.0.1")
    node.status.conditions.add(type="Ready", status="True", reason="KubeletReady",
                               message="kubelet is posting ready status")
    return node


def make_pod(index: int) -> core_pb2.Pod:
    owner = index // PODS_PER_OWNER
    pod = core_pb2.Pod(
        metadata=meta_pb2.ObjectMeta(
            name=f"sched-{index:06d}", namespace=NAMESPACE, labels={"app": f"bench-{owner}"},
            owner_references=[meta_pb2.OwnerReference(
                api_version="apps/v1", kind="ReplicaSet", name=f"bench-{owner}",
                uid=f"00000000-0000-4000-8000-{owner:012d}", controller=True)]),
        spec=core_pb2.PodSpec(containers=[core_pb2.Container(
            name="worker", image=IMAGE,
            resources=core_pb2.ResourceRequirements(requests={"cpu": "100m", "memory": "64Mi"}))]))
    return pod


def split(items: Sequence, parts: int) -> list[list]:
    return [list(items[i::parts]) for i in range(parts)]


async def create_all(stubs: list[api_pb2_grpc.APIStub], objects: Sequence, in_flight: int,
                     sent: dict[str, float] | None = None, batch: int = 1) -> None:
    """Create objects with len(stubs) clients, in_flight calls each at once; with
    batch > 1 each call is a Batch of that many Creates (every one must succeed)."""
    async def client(stub: api_pb2_grpc.APIStub, mine: list) -> None:
        slots = asyncio.Semaphore(in_flight)

        async def one(objs: list) -> None:
            async with slots:
                if sent is not None:
                    now = time.monotonic()
                    for obj in objs:
                        sent[obj.metadata.name] = now
                if batch == 1:
                    await stub.Create(api_pb2.CreateRequest(object=wrap(objs[0])), timeout=60)
                    return
                reply = await stub.Batch(api_pb2.BatchRequest(ops=[
                    api_pb2.BatchOp(create=api_pb2.CreateRequest(object=wrap(o))) for o in objs]), timeout=60)
                failed = [r.message for r in reply.results if r.code != 0]
                if failed:
                    raise RuntimeError(f"{len(failed)} of {len(objs)} Creates failed: {failed[0]}")
        await asyncio.gather(*(one(mine[i:i + batch]) for i in range(0, len(mine), batch)))
    await asyncio.gather(*(client(s, part) for s, part in zip(stubs, split(objects, len(stubs)))))


@dataclass
class Results:
    settings: Settings
    sent: dict[str, float] = field(default_factory=dict)
    bound: dict[str, float] = field(default_factory=dict)
    placement: Counter = field(default_factory=Counter)
    created_at: float = math.nan  # when the last Create returned
    scheduler_cpu: float = math.nan
    apiserver_cpu: float = math.nan
    scheduler_rss_mib: float = math.nan

    @property
    def first_sent(self) -> float:
        return min(self.sent.values())

    @property
    def last_bound(self) -> float:
        return max(self.bound.values())

    @property
    def throughput(self) -> float:
        return len(self.bound) / (self.last_bound - self.first_sent)

    @property
    def bind_rate(self) -> float:
        """Pods bound per second from the first bind to the last."""
        times = sorted(self.bound.values())
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else math.nan

    def latencies(self) -> list[float]:
        return [self.bound[n] - self.sent[n] for n in self.bound if n in self.sent]


async def watch_bound(stub: api_pb2_grpc.APIStub, rv: str, results: Results, want: int,
                      ready: asyncio.Event, done: asyncio.Event) -> None:
    """Note when each Pod is first seen bound (WatchBatches, as the informers watch)."""
    call = stub.WatchBatches(api_pb2.WatchRequest(kind="Pod", namespace=NAMESPACE, resource_version=rv,
                                                  allow_bookmarks=True))
    ready.set()
    try:
        async for batch in call:
            now = time.monotonic()
            for data in batch.events:
                event = api_pb2.WatchEvent.FromString(data)
                if event.type not in ("ADDED", "MODIFIED"):
                    continue
                pod = unwrap(event.object)
                name = pod.metadata.name
                if pod.spec.node_name and name not in results.bound:
                    results.bound[name] = now
                    results.placement[pod.spec.node_name] += 1
            if len(results.bound) >= want:
                done.set()
                return
    finally:
        call.cancel()


async def run_once(work: Path, settings: Settings) -> Results:
    results = Results(settings)
    apiserver, address = start_apiserver(work)
    scheduler: ChildProcess | None = None
    channels: list[grpc.aio.Channel] = []
    try:
        await wait_until(lambda: apiserver_healthy(address), apiserver, START_TIMEOUT)
        channels = [grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) for _ in range(settings.clients + 1)]
        stubs = [api_pb2_grpc.APIStub(c) for c in channels]
        t0 = time.monotonic()
        await create_all(stubs[1:], [make_node(f"node-{i:05d}") for i in range(settings.nodes)], settings.in_flight)
        print(f"  {settings.nodes} Nodes created in {time.monotonic() - t0:.1f} s")
        scheduler = start_component(work, "scheduler", "scheduler.main", address)
        await wait_until(log_says(scheduler, "scheduler running"), scheduler, START_TIMEOUT)
        print(f"  scheduler running (pid {scheduler.pid}); creating {settings.pods} Pods "
              f"with {settings.clients} clients × {settings.in_flight} in flight")
        listed = await stubs[0].List(api_pb2.ListRequest(kind="Pod", namespace=NAMESPACE), timeout=30)
        ready, done = asyncio.Event(), asyncio.Event()
        watcher = asyncio.create_task(watch_bound(stubs[0], listed.resource_version, results, settings.pods,
                                                  ready, done))
        await ready.wait()
        pods = [make_pod(i) for i in range(settings.pods)]
        sched_cpu0, api_cpu0 = scheduler.cpu_seconds(), apiserver.cpu_seconds()
        creating = asyncio.create_task(create_all(stubs[1:], pods, settings.in_flight, results.sent,
                                                  settings.create_batch))
        try:
            await asyncio.wait_for(creating, settings.timeout)
            results.created_at = time.monotonic()
            await asyncio.wait_for(done.wait(), settings.timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"{len(results.bound)}/{settings.pods} Pods bound after {settings.timeout:.0f} s; "
                               f"scheduler log:\n{scheduler.log_tail()}") from None
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        results.scheduler_cpu = scheduler.cpu_seconds() - sched_cpu0
        results.apiserver_cpu = apiserver.cpu_seconds() - api_cpu0
        results.scheduler_rss_mib = proc_memory_mib(scheduler.pid)["VmRSS"]
        scheduler.check_alive()
        return results
    finally:
        for channel in channels:
            await channel.close()
        if scheduler is not None:
            scheduler.stop()
        apiserver.stop()


def build_records(r: Results) -> list[Record]:
    lat = r.latencies()
    n = len(r.bound)
    counts = [r.placement.get(f"node-{i:05d}", 0) for i in range(r.settings.nodes)]
    return [
        Record("scheduler_bare.throughput", r.throughput, "pods/s"),
        Record("scheduler_bare.bind_rate", r.bind_rate, "pods/s"),
        Record("scheduler_bare.create_rate", n / (r.created_at - r.first_sent), "pods/s"),
        Record("scheduler_bare.latency.p50", percentile(lat, 50) * 1000, "ms"),
        Record("scheduler_bare.latency.p99", percentile(lat, 99) * 1000, "ms"),
        Record("scheduler_bare.cpu_per_pod", r.scheduler_cpu / n * 1e6, "us"),
        Record("scheduler_bare.apiserver_cpu_per_pod", r.apiserver_cpu / n * 1e6, "us"),
        Record("scheduler_bare.rss", r.scheduler_rss_mib, "MiB"),
        Record("scheduler_bare.pods_per_node.min", min(counts), "pods"),
        Record("scheduler_bare.pods_per_node.max", max(counts), "pods"),
    ]


async def run(settings: Settings, out: Path | None) -> int:
    print(f"bare-node scheduler benchmark: {settings.nodes} bare Nodes (no kubelets), {settings.pods} Pods "
          "created at once")
    with tempfile.TemporaryDirectory(prefix="pykube-bench-scheduler-") as tmp:
        results = await run_once(Path(tmp), settings)
    records = build_records(results)
    print(f"  {len(results.bound)} Pods bound in {results.last_bound - results.first_sent:.2f} s "
          f"(Creates done after {results.created_at - results.first_sent:.2f} s)")
    print_table(records)
    if out is not None:
        conditions = {"mode": mode(settings.quick), "nodes": settings.nodes, "kubelets": "none",
                      "pods": settings.pods, "clients": settings.clients, "create_batch": settings.create_batch}
        print(f"appended {len(records)} records to {append_results(out, records, conditions)}")
    return 0


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, Path | None]:
    parser = argparse.ArgumentParser(prog="python -m bench.scheduler_bare", description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, metavar="N", help="Nodes (default 1000; --quick 100)")
    parser.add_argument("--pods", type=int, metavar="M", help="Pods created at once (default 10000; --quick 1000)")
    parser.add_argument("--clients", type=int, metavar="C", help="concurrent creating clients (default 8)")
    parser.add_argument("--create-batch", type=int, metavar="B",
                        help="Creates per Batch call (default 50; 1: one Create call per Pod, as most clients do)")
    parser.add_argument("--quick", action="store_true", help="100 nodes, 1000 Pods (a few seconds)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="append records to DIR/results.json")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else Settings()
    settings = Settings(nodes=args.nodes or base.nodes, pods=args.pods or base.pods,
                        clients=args.clients or base.clients, timeout=base.timeout,
                        create_batch=args.create_batch or base.create_batch, quick=args.quick)
    if settings.nodes < 1 or settings.pods < 1 or settings.clients < 1 or settings.create_batch < 1:
        parser.error("--nodes, --pods, --clients and --create-batch must be >= 1")
    return settings, args.out


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark(run, *parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
