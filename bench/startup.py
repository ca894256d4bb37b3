"""Pod startup latency and API mutating-call latency under churn, as Kubernetes' SLOs measure them.

    python -m bench.startup                    # 100 hollow nodes, 20 Pods/s for 60 s
    python -m bench.startup --quick            # 50 hollow nodes, 20 Pods/s for 15 s
    python -m bench.startup --nodes 100 --rate 20 --duration 60 --lifetime 10 --out results/

A whole control plane, each piece its own process: ``pykube-apiserver`` (SQLite store
in a temp dir), ``pykube-scheduler``, ``pykube-controller-manager`` and one
``python -m kubelet.hollow`` process running N hollow kubelets (real kubelet code on
the fake runtime). Once every Node is Ready, a Pod watch is opened and the load
generator (this process) churns: it creates bare Pods (one container, requests
10m / 16Mi) on a steady schedule, RATE per second -- Pod i is due at i / RATE, not in
bursts -- and deletes each Pod LIFETIME seconds after it was due, so once warm the
deletes run at RATE too and about RATE x LIFETIME Pods are alive at any time.

Why these two figures: they are Kubernetes' scalability SLOs.

* Pod startup latency: from the Create being sent to the watch showing the Pod with
  phase Running and condition Ready True ("creation to all containers started,
  observed via watch"; Kubernetes excludes image pulls, and hollow nodes pull nothing).
  p50/p90/p99 over every Pod seen Running. A Pod never seen Running (not even by its
  deletion, LIFETIME seconds later) is a failure: counted, reported and named, never
  silently left out of the percentiles. Kubernetes' SLO is p99 <= 5 s; pykube's
  target is 0.5 s.
* API mutating-call latency: the client-side latency of every Create and Delete the
  churn makes (Kubernetes: p99 <= 1 s per verb and resource; pykube's target 50 ms).

The load generator records how late each call was sent against its schedule and the
rate it achieved, so a slow generator shows instead of quietly lowering the load. The
scheduling part of startup (Create sent -> watch shows spec.nodeName) is reported
beside the total, and the CPU seconds each process spent during the churn show
where the time goes. Targets are printed, not asserted. Every process is stopped by
PID at the end, also on errors and time-outs. Before the churn, the processes' CPU
over a few idle seconds (100 nodes renewing Leases, no Pods) is recorded too, so that
what the churn costs can be told from what the cluster costs anyway.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import grpc

from bench.common import (
    ChildProcess,
    Record,
    apiserver_healthy,
    append_results,
    latency_records,
    mode,
    percentile,
    print_table,
    raise_from_stage,
    run_benchmark,
    start_apiserver,
    start_component,
    start_control_plane,
    wait_nodes_ready,
    wait_until,
)
from client.api import unwrap, wrap
from protos import api_pb2, api_pb2_grpc, core_pb2, meta_pb2

NAMESPACE = "default"
IMAGE = "docker.io/library/multi-worker:1.0"
LABEL = ("bench", "startup")
START_TIMEOUT = 30.0
CALL_TIMEOUT = 30.0
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]
STARTUP_TARGET_MS = 500.0
MUTATING_TARGET_MS = 50.0


@dataclass
class Settings:
    nodes: int = 100
    rate: float = 20.0       # Pods created (and, once warm, deleted) per second
    duration: float = 60.0   # seconds of creating
    lifetime: float = 10.0   # seconds from a Pod's Create to its Delete
    nodes_timeout: float = 120.0
    drain_timeout: float = 60.0  # after the last Delete: time for the last Pods to go
    idle_window: float = 5.0     # seconds of the idle cluster's CPU measured before the churn
    quick: bool = False


QUICK = Settings(nodes=50, duration=15.0, idle_window=2.0, quick=True)


# ------------------------------------------------------------------ pure helpers


class Op(NamedTuple):
    at: float    # seconds after the churn's start
    action: str  # "create" or "delete"
    index: int


def churn_schedule(rate: float, duration: float, lifetime: float) -> list[Op]:
    """Every call of the churn, in time order: Pod i is created at i / rate (a steady
    stream, not bursts) for duration seconds and deleted lifetime seconds later.
    At equal times a delete goes first (it frees the room the create may need)."""
    count = round(rate * duration)
    ops = [Op(i / rate, "create", i) for i in range(count)]
    ops += [Op(i / rate + lifetime, "delete", i) for i in range(count)]
    return sorted(ops, key=lambda op: (op.at, op.action != "delete", op.index))


def pod_name(index: int) -> str:
    return f"churn-{index:05d}"


def is_running_ready(pod: core_pb2.Pod) -> bool:
    """Phase Running and condition Ready True: what the startup SLO waits for."""
    return pod.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in pod.status.conditions)


def startup_latencies(sent: dict[str, float], seen: dict[str, float]) -> tuple[list[float], list[str]]:
    """Latency (seconds) of every Pod whose Create was sent and that was seen, and the
    names of those never seen: failures, not omissions."""
    latencies = [seen[name] - at for name, at in sent.items() if name in seen]
    missing = sorted(name for name in sent if name not in seen)
    return latencies, missing


def achieved_rate(times: Iterable[float]) -> float:
    """Calls per second between the first and the last of them (NaN below two)."""
    ordered = sorted(times)
    if len(ordered) < 2 or ordered[-1] <= ordered[0]:
        return math.nan
    return (len(ordered) - 1) / (ordered[-1] - ordered[0])


# ------------------------------------------------------------------ the run


def make_pod(index: int) -> core_pb2.Pod:
    pod = core_pb2.Pod(
        metadata=meta_pb2.ObjectMeta(name=pod_name(index), namespace=NAMESPACE, labels={LABEL[0]: LABEL[1]}),
        spec=core_pb2.PodSpec(containers=[core_pb2.Container(
            name="worker", image=IMAGE,
            resources=core_pb2.ResourceRequirements(requests={"cpu": "10m", "memory": "16Mi"}))]))
    return pod


@dataclass
class Results:
    settings: Settings
    create_sent: dict[str, float] = field(default_factory=dict)
    create_latency: list[float] = field(default_factory=list)
    delete_sent: dict[str, float] = field(default_factory=dict)
    delete_latency: list[float] = field(default_factory=list)
    lateness: list[float] = field(default_factory=list)  # call sent minus its due time
    errors: list[str] = field(default_factory=list)
    bound: dict[str, float] = field(default_factory=dict)    # watch showed spec.nodeName
    running: dict[str, float] = field(default_factory=dict)  # watch showed Running + Ready
    gone: set[str] = field(default_factory=set)              # watch showed DELETED
    cpu: dict[str, float] = field(default_factory=dict)      # process -> CPU seconds during the churn
    idle_cpu: dict[str, float] = field(default_factory=dict)  # process -> cores busy before the churn
    churn_wall: float = math.nan
    left_after_drain: int = 0


class PodWatch:
    """One Watch over the churn's Pods, noting when each was first seen bound, first
    seen Running + Ready and deleted. Reopened from the last revision if the server
    ends the stream."""

    def __init__(self, stub: api_pb2_grpc.APIStub, results: Results) -> None:
        self.stub = stub
        self.results = results
        self.revision = ""
        self.reopened = 0
        self.opened = asyncio.Event()

    async def run(self, revision: str) -> None:
        self.revision = revision
        selector = f"{LABEL[0]}={LABEL[1]}"
        while True:
            call = self.stub.Watch(api_pb2.WatchRequest(kind="Pod", namespace=NAMESPACE, label_selector=selector,
                                                        resource_version=self.revision, allow_bookmarks=True))
            self.opened.set()
            try:
                async for event in call:
                    self.on_event(event, time.monotonic())
            finally:
                call.cancel()
            self.reopened += 1  # the server ended the stream: carry on from where it was

    def on_event(self, event: api_pb2.WatchEvent, now: float) -> None:
        pod = unwrap(event.object)
        self.revision = pod.metadata.resource_version or self.revision
        if event.type == "BOOKMARK":
            return
        name, r = pod.metadata.name, self.results
        if event.type == "DELETED":
            r.gone.add(name)
            return
        if pod.spec.node_name and name not in r.bound:
            r.bound[name] = now
        if name not in r.running and is_running_ready(pod):
            r.running[name] = now


class LoadGenerator:
    """Sends the churn's calls at their due times, each its own task so that a slow
    call never delays the next one; records client-side latencies and lateness."""

    def __init__(self, stub: api_pb2_grpc.APIStub, results: Results) -> None:
        self.stub = stub
        self.results = results
        self.creates: dict[int, asyncio.Task] = {}

    async def create(self, index: int) -> bool:
        name, r = pod_name(index), self.results
        request = api_pb2.CreateRequest(object=wrap(make_pod(index)))
        sent = time.monotonic()
        r.create_sent[name] = sent
        try:
            await self.stub.Create(request, timeout=CALL_TIMEOUT)
        except grpc.RpcError as err:
            r.errors.append(f"create {name}: {err.code().name} {err.details()}")
            return False
        r.create_latency.append(time.monotonic() - sent)
        return True

    async def delete(self, index: int) -> None:
        name, r = pod_name(index), self.results
        if not await self.creates[index]:  # (long done: it was due LIFETIME seconds ago)
            return
        request = api_pb2.DeleteRequest(kind="Pod", namespace=NAMESPACE, name=name)
        sent = time.monotonic()
        r.delete_sent[name] = sent
        try:
            await self.stub.Delete(request, timeout=CALL_TIMEOUT)
        except grpc.RpcError as err:
            r.errors.append(f"delete {name}: {err.code().name} {err.details()}")
            return
        r.delete_latency.append(time.monotonic() - sent)

    async def run(self, schedule: Sequence[Op]) -> None:
        tasks: list[asyncio.Task] = []
        start = time.monotonic() + 0.05
        for op in schedule:
            due = start + op.at
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.results.lateness.append(time.monotonic() - due)
            if op.action == "create":
                task = asyncio.create_task(self.create(op.index))
                self.creates[op.index] = task
            else:
                task = asyncio.create_task(self.delete(op.index))
            tasks.append(task)
        await asyncio.gather(*tasks)


async def run_once(work: Path, settings: Settings) -> Results:
    results = Results(settings)
    apiserver, address = start_apiserver(work)
    processes: dict[str, ChildProcess] = {"apiserver": apiserver}
    channels: list[grpc.aio.Channel] = []
    watcher: asyncio.Task | None = None
    stage = "starting the apiserver"
    try:
        await wait_until(lambda: apiserver_healthy(address), apiserver, START_TIMEOUT)
        stage = "starting the scheduler and controller-manager"
        await start_control_plane(work, address, processes)
        stage = f"starting {settings.nodes} hollow nodes"
        processes["hollow_nodes"] = start_component(work, "hollow-nodes", "kubelet.hollow", address,
                                                    "--nodes", str(settings.nodes))
        channels = [grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) for _ in range(2)]
        watch_stub, call_stub = (api_pb2_grpc.APIStub(c) for c in channels)
        t0 = time.monotonic()
        await wait_nodes_ready(watch_stub, settings.nodes, processes["hollow_nodes"], settings.nodes_timeout)
        print(f"  {settings.nodes} hollow Nodes Ready after {time.monotonic() - t0:.1f} s")

        # The floor under the churn: what the cluster costs with no Pods at all (Lease
        # renewals, Node status, informers' resyncs), to tell apart from what the churn adds.
        stage = "measuring the idle cluster"
        await asyncio.sleep(settings.idle_window / 2)  # past the registration burst
        cpu0 = {name: p.cpu_seconds() for name, p in processes.items()}
        await asyncio.sleep(settings.idle_window)
        results.idle_cpu = {name: (p.cpu_seconds() - cpu0[name]) / settings.idle_window
                            for name, p in processes.items()}

        stage = "churning"
        listed = await watch_stub.List(api_pb2.ListRequest(kind="Pod", namespace=NAMESPACE), timeout=CALL_TIMEOUT)
        watch = PodWatch(watch_stub, results)
        watcher = asyncio.create_task(watch.run(listed.resource_version))
        await watch.opened.wait()
        schedule = churn_schedule(settings.rate, settings.duration, settings.lifetime)
        print(f"  churn: {len(schedule) // 2} Pods at {settings.rate:g}/s for {settings.duration:g} s, "
              f"each deleted {settings.lifetime:g} s after its Create")
        cpu0 = {name: p.cpu_seconds() for name, p in processes.items()}
        bench_cpu0, wall0 = time.process_time(), time.monotonic()
        generator = LoadGenerator(call_stub, results)
        budget = settings.duration + settings.lifetime + CALL_TIMEOUT + 30
        try:
            await asyncio.wait_for(generator.run(schedule), budget)
        except TimeoutError:
            raise TimeoutError(f"churn not done after {budget:.0f} s: {len(results.create_latency)} Creates and "
                               f"{len(results.delete_latency)} Deletes returned of {len(schedule) // 2} each") from None
        results.churn_wall = time.monotonic() - wall0
        results.cpu = {name: p.cpu_seconds() - cpu0[name] for name, p in processes.items()}
        results.cpu["load_generator"] = time.process_time() - bench_cpu0
        for process in processes.values():
            process.check_alive()

        stage = "draining (waiting for the deleted Pods to go)"
        deadline = time.monotonic() + settings.drain_timeout
        while time.monotonic() < deadline and set(results.delete_sent) - results.gone:
            await asyncio.sleep(0.2)
        results.left_after_drain = len(set(results.delete_sent) - results.gone)
        if watch.reopened:
            print(f"  (the watch was reopened {watch.reopened} times)")
        return results
    except Exception as err:
        raise_from_stage(err, stage, processes.values())
    finally:
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        for channel in channels:
            await channel.close()
        for process in reversed(list(processes.values())):
            process.stop()


def build_records(r: Results) -> list[Record]:
    # A Pod never seen Running (or never bound), and a failed call, is an infinite latency.
    latencies, never_running = startup_latencies(r.create_sent, r.running)
    scheduling, never_bound = startup_latencies(r.create_sent, r.bound)
    mutating = r.create_latency + r.delete_latency
    failed_creates = len(r.create_sent) - len(r.create_latency)
    failed_deletes = len(r.delete_sent) - len(r.delete_latency)
    ms = 1000.0
    records = [
        *latency_records("startup.latency", latencies, len(never_running), (50, 90, 99)),
        Record("startup.latency.count", len(latencies), "pods"),
        Record("startup.not_running", len(never_running), "pods"),
        *latency_records("startup.scheduling", scheduling, len(never_bound)),
        *latency_records("startup.api_mutating", mutating, failed_creates + failed_deletes),
        Record("startup.api_mutating.count", len(mutating), "calls"),
        Record("startup.api_mutating.errors", len(r.errors), "calls"),
        *latency_records("startup.api_create", r.create_latency, failed_creates),
        *latency_records("startup.api_delete", r.delete_latency, failed_deletes),
        Record("startup.create_rate", achieved_rate(r.create_sent.values()), "pods/s"),
        Record("startup.delete_rate", achieved_rate(r.delete_sent.values()), "pods/s"),
        Record("startup.send_lateness.p99", percentile(r.lateness, 99) * ms, "ms"),
        Record("startup.send_lateness.max", max(r.lateness, default=math.nan) * ms, "ms"),
        Record("startup.churn_wall", r.churn_wall, "s"),
    ]
    records += [Record(f"startup.cpu.{name}", seconds, "s") for name, seconds in r.cpu.items()]
    # The same as shares of one core, beside the idle cluster's: what the churn adds.
    records += [Record(f"startup.cpu_share.{name}", seconds / r.churn_wall * 100, "%")
                for name, seconds in r.cpu.items()]
    records += [Record(f"startup.idle_cpu_share.{name}", cores * 100, "%") for name, cores in r.idle_cpu.items()]
    return records


def verdict(label: str, value_ms: float, target_ms: float) -> str:
    if math.isnan(value_ms):
        return f"  {label}: no data (target <= {target_ms:g} ms)"
    if math.isinf(value_ms):
        return f"  {label}: failed (1% or more of the Pods or calls failed; target <= {target_ms:g} ms)"
    if value_ms <= target_ms:
        return f"  {label}: {value_ms:.1f} ms, target <= {target_ms:g} ms met"
    return f"  {label}: {value_ms:.1f} ms, target <= {target_ms:g} ms MISSED by {value_ms - target_ms:.1f} ms"


async def run(settings: Settings, out: Path | None) -> int:
    print(f"startup benchmark: {settings.nodes} hollow nodes, {settings.rate:g} Pods/s churn "
          f"for {settings.duration:g} s, lifetime {settings.lifetime:g} s")
    with tempfile.TemporaryDirectory(prefix="pykube-bench-startup-") as tmp:
        results = await run_once(Path(tmp), settings)
    records = build_records(results)
    _, missing = startup_latencies(results.create_sent, results.running)
    if missing:
        print(f"  FAILURES: {len(missing)} Pods never seen Running + Ready: {', '.join(missing[:10])}"
              + (" ..." if len(missing) > 10 else ""))
    for error in results.errors[:10]:
        print(f"  call failed: {error}")
    if results.left_after_drain:
        print(f"  {results.left_after_drain} deleted Pods still present {settings.drain_timeout:g} s after the churn")
    print_table(records)
    values = {r.name: r.value for r in records}
    print("targets (shown, not asserted):")
    print(verdict("pod startup p99", values["startup.latency.p99"], STARTUP_TARGET_MS))
    print(verdict("API mutating p99", values["startup.api_mutating.p99"], MUTATING_TARGET_MS))
    busiest = max(results.cpu, key=lambda name: results.cpu[name])
    print(f"  busiest process during the churn: {busiest} "
          f"({results.cpu[busiest] / results.churn_wall * 100:.0f}% of a core)")
    if out is not None:
        conditions = {"mode": mode(settings.quick), "kubelets": "hollow", "nodes": settings.nodes,
                      "rate": f"{settings.rate:g}", "duration": f"{settings.duration:g}",
                      "lifetime": f"{settings.lifetime:g}"}
        print(f"appended {len(records)} records to {append_results(out, records, conditions)}")
    return 0  # failures are figures (startup.not_running, api_mutating.errors), shown above


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, Path | None]:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, metavar="N", help="hollow nodes (default 100; --quick 50)")
    parser.add_argument("--rate", type=float, metavar="PODS/S", help="Pods created per second (default 20)")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="seconds of churn (default 60; --quick 15)")
    parser.add_argument("--lifetime", type=float, metavar="SECONDS",
                        help="seconds from a Pod's Create to its Delete (default 10)")
    parser.add_argument("--quick", action="store_true", help="50 hollow nodes, 15 s of churn")
    parser.add_argument("--out", type=Path, metavar="DIR", help="append records to DIR/results.json")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else Settings()
    settings = Settings(nodes=args.nodes or base.nodes, rate=args.rate or base.rate,
                        duration=args.duration or base.duration,
                        lifetime=args.lifetime if args.lifetime is not None else base.lifetime, quick=args.quick)
    if settings.nodes < 1 or settings.rate <= 0 or settings.duration <= 0 or settings.lifetime < 0:
        parser.error("--nodes, --rate and --duration must be positive, --lifetime not negative")
    return settings, args.out


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark(run, *parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
