"""Scheduling throughput on hollow nodes: 10 000 Pods onto 1000 real kubelets (fake runtime), bound and Running.

    python -m bench.scheduler                       # 1000 hollow nodes, 10 000 Pods
    python -m bench.scheduler --quick               # 100 hollow nodes, 1000 Pods
    python -m bench.scheduler --nodes 1000 --pods 10000 --clients 8 --in-flight 16 --out results/

A whole control plane, each piece its own process: ``pykube-apiserver`` (SQLite store
in a temp dir), ``pykube-scheduler``, ``pykube-controller-manager`` and one
``python -m kubelet.hollow`` process running N hollow nodes -- real kubelet code on the
fake runtime, so the Leases are renewed, each kubelet watches its Pods and writes
their status, as on a real cluster (only the containers are pretend). Once every
Node is Ready, M Pods go through the two paths users take, one after the other:

1. ``create_per_pod``: the load generator (this process) sends one Create call per Pod,
   as ``kubectl create``, an operator or a CI job does: C clients (each its own gRPC
   channel) with I calls in flight each, all M Pods as fast as the apiserver takes them.
   Then the Pods are deleted (Batch calls of Deletes) and the benchmark waits until the
   kubelets have stopped them and they are gone.
2. ``deployment``: one Deployment with M replicas is created; the controller-manager's
   ReplicaSet controller creates the Pods (in slow-start batches, as Kubernetes' does).

For both, one Pod watch (WatchBatches, as the informers watch) notes when each Pod is
first seen bound (``spec.nodeName`` set) and first seen Running and Ready (its hollow
kubelet has started it and written its status). Figures per path:

* ``bound_throughput``: Pods bound / (first Create sent → last Pod seen bound);
  ``running_throughput`` the same to the last Pod seen Running;
* ``all_bound`` / ``all_running``: seconds from the first Create (or the Deployment's
  Create) to the last Pod bound / Running;
* per Pod (``create_per_pod`` only, where each Create's send time is known): latency to
  bound and to Running, p50/p99;
* the CPU each process spent per Pod, and the spread (min/max Pods per node);
* before the paths, each process's CPU share with N idle nodes (Lease renewals every
  2 s, Node status, informers' resyncs): the floor the paths run on.

A Pod not bound (or not Running) by the time-out, and a failed Create, is a failure:
an infinite latency in the percentiles, and the record carries the count (the targets
allow none). The scheduler's figure on bare Node objects, with no kubelets, is
bench.scheduler_bare's (``scheduler_bare.*``), never this one. Processes are stopped
by PID at the end, also on errors and time-outs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import grpc

from bench.common import (ChildProcess, Record, append_results, apiserver_healthy, latency_records, mode,
                          print_table, proc_memory_mib, run_benchmark, start_apiserver, start_component,
                          raise_from_stage, start_control_plane, wait_nodes_ready, wait_until)
from bench.profile import Profiles, summary
from client.api import unwrap, wrap
from protos import api_pb2, api_pb2_grpc, apps_pb2, core_pb2, meta_pb2

NAMESPACE = "default"
IMAGE = "docker.io/library/multi-worker:1.0"
START_TIMEOUT = 30.0
CALL_TIMEOUT = 30.0
DELETE_BATCH = 100
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]
PROCESSES = ("apiserver", "scheduler", "controller_manager", "hollow_nodes", "load_generator")


@dataclass
class Settings:
    nodes: int = 1000
    pods: int = 10000
    clients: int = 8
    in_flight: int = 16  # Create calls in flight per client
    timeout: float = 150.0  # per path, from the first Create to every Pod Running
    nodes_timeout: float = 180.0
    idle_window: float = 5.0  # seconds of the idle cluster's CPU measured before the first path
    quick: bool = False
    profile: Path | None = None  # py-spy each process during each path into this directory


QUICK = Settings(nodes=100, pods=1000, timeout=60.0, nodes_timeout=60.0, idle_window=2.0, quick=True)


def pod_template(spec: core_pb2.PodSpec) -> None:
    spec.containers.add(name="worker", image=IMAGE,
                        resources=core_pb2.ResourceRequirements(requests={"cpu": "100m", "memory": "64Mi"}))
    spec.termination_grace_period_seconds = 1


def make_pod(index: int) -> core_pb2.Pod:
    pod = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=f"per-pod-{index:06d}", namespace=NAMESPACE,
                                                    labels={"bench": "create-per-pod"}))
    pod_template(pod.spec)
    return pod


def make_deployment(replicas: int) -> apps_pb2.Deployment:
    deployment = apps_pb2.Deployment(metadata=meta_pb2.ObjectMeta(name="sched-bench", namespace=NAMESPACE))
    deployment.spec.replicas = replicas
    deployment.spec.selector.match_labels.update({"bench": "deployment"})
    deployment.spec.template.metadata.labels.update({"bench": "deployment"})
    pod_template(deployment.spec.template.spec)
    return deployment


def is_running_ready(pod: core_pb2.Pod) -> bool:
    return pod.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in pod.status.conditions)


@dataclass
class PathResults:
    """One path's observations: when each Pod's Create was sent (create_per_pod only), when it
    was first seen bound and first seen Running, where it went, the Pods deleted while the path
    ran (evicted from a node whose Lease went stale), when `want` Pods were bound (and Running)
    at once, and the calls that failed."""

    name: str
    want: int = 0
    started: float = math.nan  # the first Create sent
    sent: dict[str, float] = field(default_factory=dict)
    bound: dict[str, float] = field(default_factory=dict)
    running: dict[str, float] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    all_bound_at: float = math.nan
    all_running_at: float = math.nan
    placement: Counter = field(default_factory=Counter)
    failed_calls: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds during the path

    def now_bound(self) -> int:
        return len(self.bound) - len(self.gone.intersection(self.bound))

    def now_running(self) -> int:
        return len(self.running) - len(self.gone.intersection(self.running))

    def note(self, name: str, node: str, running: bool, deleted: bool, now: float) -> None:
        if deleted:
            self.gone.add(name)
            return
        if node and name not in self.bound:
            self.bound[name] = now
            self.placement[node] += 1
            if math.isnan(self.all_bound_at) and self.now_bound() >= self.want:
                self.all_bound_at = now
        if running and name not in self.running:
            self.running[name] = now
            if math.isnan(self.all_running_at) and self.now_running() >= self.want:
                self.all_running_at = now


class PodWatch:
    """One WatchBatches stream over the namespace's Pods, noting each Pod's first bound and
    first Running time into the current path, and which Pods are gone. Reopened from the
    last revision if the server ends the stream."""

    def __init__(self, stub: api_pb2_grpc.APIStub) -> None:
        self.stub = stub
        self.path: PathResults | None = None
        self.label = ""
        self.alive: set[str] = set()
        self.revision = ""
        self.changed = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        listed = await self.stub.List(api_pb2.ListRequest(kind="Pod", namespace=NAMESPACE), timeout=CALL_TIMEOUT)
        self.revision = listed.resource_version
        opened = asyncio.Event()
        self.task = asyncio.create_task(self._run(opened))
        await opened.wait()

    async def _run(self, opened: asyncio.Event) -> None:
        while True:
            call = self.stub.WatchBatches(api_pb2.WatchRequest(kind="Pod", namespace=NAMESPACE,
                                                               resource_version=self.revision, allow_bookmarks=True))
            opened.set()
            try:
                async for batch in call:
                    now = time.monotonic()
                    for data in batch.events:
                        self._note(api_pb2.WatchEvent.FromString(data), now)
                    self.changed.set()
            finally:
                call.cancel()

    def _note(self, event: api_pb2.WatchEvent, now: float) -> None:
        pod = unwrap(event.object)
        self.revision = pod.metadata.resource_version or self.revision
        name = pod.metadata.name
        if event.type == "BOOKMARK":
            return
        deleted = event.type == "DELETED"
        if deleted:
            self.alive.discard(name)
        else:
            self.alive.add(name)
        path = self.path
        if path is not None and pod.metadata.labels.get("bench") == self.label:
            path.note(name, pod.spec.node_name, is_running_ready(pod), deleted, now)

    async def wait(self, done, timeout: float, alive, progress: str) -> bool:
        """Until done() holds (True) or timeout seconds pass (False), printing progress."""
        deadline = time.monotonic() + timeout
        last_print = time.monotonic()
        while not done():
            alive()
            now = time.monotonic()
            if now >= deadline:
                return False
            if now - last_print >= 10:
                print(f"    ... {progress()}", flush=True)
                last_print = now
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), min(1.0, deadline - now))
            except TimeoutError:
                pass
        return True

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def create_per_pod(stubs: Sequence[api_pb2_grpc.APIStub], pods: Sequence[core_pb2.Pod], in_flight: int,
                         path: PathResults) -> None:
    """One Create call per Pod: each client (its own channel) keeps in_flight calls going."""
    async def client(stub: api_pb2_grpc.APIStub, mine: Sequence[core_pb2.Pod]) -> None:
        queue = list(reversed(mine))

        async def caller() -> None:
            while queue:
                pod = queue.pop()
                path.sent[pod.metadata.name] = time.monotonic()
                try:
                    await stub.Create(api_pb2.CreateRequest(object=wrap(pod)), timeout=CALL_TIMEOUT)
                except grpc.RpcError as err:
                    path.failed_calls.append(f"create {pod.metadata.name}: {err.code().name} {err.details()}")
        await asyncio.gather(*(caller() for _ in range(in_flight)))
    await asyncio.gather(*(client(stub, pods[i::len(stubs)]) for i, stub in enumerate(stubs)))


async def delete_all(stub: api_pb2_grpc.APIStub, names: Sequence[str]) -> None:
    """Delete the Pods in Batch calls (not measured: it makes room for the next path)."""
    for i in range(0, len(names), DELETE_BATCH):
        await stub.Batch(api_pb2.BatchRequest(ops=[
            api_pb2.BatchOp(delete=api_pb2.DeleteRequest(kind="Pod", namespace=NAMESPACE, name=name))
            for name in names[i:i + DELETE_BATCH]]), timeout=CALL_TIMEOUT)


@dataclass
class Results:
    settings: Settings
    paths: dict[str, PathResults] = field(default_factory=dict)
    nodes_ready_after: float = math.nan
    idle_cpu: dict[str, float] = field(default_factory=dict)  # process -> cores busy with no Pods
    scheduler_rss_mib: float = math.nan


async def run_path(name: str, watch: PodWatch, settings: Settings, processes: dict[str, ChildProcess],
                   start) -> PathResults:
    """Run one path: start() sends its Creates; wait until every Pod runs or the time-out."""
    path = PathResults(name, want=settings.pods)
    label = "create-per-pod" if name == "create_per_pod" else "deployment"
    watch.path, watch.label = path, label
    want = settings.pods

    def alive() -> None:
        for process in processes.values():
            process.check_alive()

    cpu0 = {n: p.cpu_seconds() for n, p in processes.items()}
    own0 = time.process_time()
    with Profiles(settings.profile, f"scheduler-{name}", {n: p.pid for n, p in processes.items()}) \
            if settings.profile else contextlib.nullcontext():
        path.started = time.monotonic()
        await start(path)
        await watch.wait(lambda: not math.isnan(path.all_running_at),
                         settings.timeout - (time.monotonic() - path.started), alive,
                         lambda: f"{path.now_bound()}/{want} bound, {path.now_running()}/{want} Running after "
                                 f"{time.monotonic() - path.started:.0f} s" + _evicted(path))
    path.cpu = {n: p.cpu_seconds() - cpu0[n] for n, p in processes.items()}
    path.cpu["load_generator"] = time.process_time() - own0
    watch.path = None
    print(f"  {name}: {path.now_bound()}/{want} bound after {_last(path.bound, path.started):.1f} s, "
          f"{path.now_running()}/{want} Running after {_last(path.running, path.started):.1f} s" + _evicted(path)
          + (f", {len(path.failed_calls)} calls failed" if path.failed_calls else ""), flush=True)
    return path


def _last(times: dict[str, float], start: float) -> float:
    return max(times.values()) - start if times else math.nan


def _evicted(path: PathResults) -> str:
    return f" ({len(path.gone)} deleted on the way)" if path.gone else ""


async def run_once(work: Path, settings: Settings) -> Results:
    results = Results(settings)
    apiserver, address = start_apiserver(work)
    processes: dict[str, ChildProcess] = {"apiserver": apiserver}
    channels: list[grpc.aio.Channel] = []
    watch: PodWatch | None = None
    stage = "starting the apiserver"
    try:
        await wait_until(lambda: apiserver_healthy(address), apiserver, START_TIMEOUT)
        stage = "starting the scheduler and controller-manager"
        await start_control_plane(work, address, processes)
        stage = f"starting {settings.nodes} hollow nodes"
        processes["hollow_nodes"] = start_component(work, "hollow-nodes", "kubelet.hollow", address,
                                                    "--nodes", str(settings.nodes))
        channels = [grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) for _ in range(settings.clients + 1)]
        stubs = [api_pb2_grpc.APIStub(c) for c in channels]
        results.nodes_ready_after = await wait_nodes_ready(stubs[0], settings.nodes, processes["hollow_nodes"],
                                                          settings.nodes_timeout)
        print(f"  {settings.nodes} hollow Nodes Ready after {results.nodes_ready_after:.1f} s", flush=True)
        # The floor under the paths: what N idle nodes cost (Lease renewals, Node status).
        stage = "measuring the idle cluster"
        cpu0 = {name: p.cpu_seconds() for name, p in processes.items()}
        await asyncio.sleep(settings.idle_window)
        results.idle_cpu = {name: (p.cpu_seconds() - cpu0[name]) / settings.idle_window
                            for name, p in processes.items()}
        print("  idle cluster: " + ", ".join(f"{name} {cores * 100:.0f}%" for name, cores in results.idle_cpu.items())
              + " of a core", flush=True)
        watch = PodWatch(stubs[0])
        await watch.start()

        stage = "create_per_pod"
        pods = [make_pod(i) for i in range(settings.pods)]
        print(f"  create_per_pod: {settings.pods} Pods, one Create each, {settings.clients} clients × "
              f"{settings.in_flight} in flight", flush=True)

        async def send_creates(path: PathResults) -> None:
            await create_per_pod(stubs[1:], pods, settings.in_flight, path)
        results.paths["create_per_pod"] = await run_path("create_per_pod", watch, settings, processes, send_creates)

        stage = "deleting the create_per_pod Pods"
        t0 = time.monotonic()
        await delete_all(stubs[1], [p.metadata.name for p in pods])
        await watch.wait(lambda: not watch.alive, settings.timeout, lambda: None,
                         lambda: f"{len(watch.alive)} Pods not gone yet")
        print(f"  {settings.pods} Pods deleted and gone after {time.monotonic() - t0:.1f} s"
              + (f" ({len(watch.alive)} left)" if watch.alive else ""), flush=True)

        stage = "deployment"
        print(f"  deployment: one Deployment, {settings.pods} replicas", flush=True)

        async def create_deployment(path: PathResults) -> None:
            try:
                await stubs[1].Create(api_pb2.CreateRequest(object=wrap(make_deployment(settings.pods))),
                                      timeout=CALL_TIMEOUT)
            except grpc.RpcError as err:
                path.failed_calls.append(f"create Deployment: {err.code().name} {err.details()}")
        results.paths["deployment"] = await run_path("deployment", watch, settings, processes, create_deployment)
        results.scheduler_rss_mib = proc_memory_mib(processes["scheduler"].pid)["VmRSS"]
        return results
    except Exception as err:
        raise_from_stage(err, stage, processes.values())
    finally:
        if watch is not None:
            await watch.stop()
        for channel in channels:
            await channel.close()
        for process in reversed(list(processes.values())):
            process.stop()


def path_records(path: PathResults, settings: Settings) -> list[Record]:
    """A path's figures, named ``scheduler.<path>.<figure>`` (bench/targets.py holds two of them)."""
    p, want = f"scheduler.{path.name}", settings.pods
    failed = len(path.failed_calls)
    not_bound, not_running = max(0, want - path.now_bound()) + failed, max(0, want - path.now_running()) + failed

    def rate(done_at: float, times: dict[str, float], now: int) -> float:
        """want / (first Create → want Pods there at once); short of that, those there over the time taken."""
        if not math.isnan(done_at):
            return want / (done_at - path.started)
        return now / _last(times, path.started) if times else math.nan
    records = [
        Record(f"{p}.bound_throughput", rate(path.all_bound_at, path.bound, path.now_bound()), "pods/s",
               failures=not_bound),
        Record(f"{p}.running_throughput", rate(path.all_running_at, path.running, path.now_running()), "pods/s",
               failures=not_running),
        Record(f"{p}.all_bound", path.all_bound_at - path.started if not not_bound else math.inf, "s",
               failures=not_bound),
        Record(f"{p}.all_running", path.all_running_at - path.started if not not_running else math.inf, "s",
               failures=not_running),
        Record(f"{p}.deleted_on_the_way", len(path.gone), "pods"),
    ]
    if path.sent:
        records.append(Record(f"{p}.create_rate", len(path.sent) / (max(path.sent.values()) - path.started), "pods/s",
                              failures=failed))
        bound = [path.bound[n] - t for n, t in path.sent.items() if n in path.bound]
        running = [path.running[n] - t for n, t in path.sent.items() if n in path.running]
        records += latency_records(f"{p}.bound_latency", bound, want - len(bound))
        records += latency_records(f"{p}.running_latency", running, want - len(running))
    counts = [path.placement.get(f"hollow-{i}", 0) for i in range(1, settings.nodes + 1)]
    records += [Record(f"{p}.pods_per_node.min", min(counts), "pods"),
                Record(f"{p}.pods_per_node.max", max(counts), "pods")]
    records += [Record(f"{p}.cpu_per_pod.{name}", seconds / want * 1e6, "us") for name, seconds in path.cpu.items()]
    return records


def build_records(r: Results) -> list[Record]:
    records = [record for path in r.paths.values() for record in path_records(path, r.settings)]
    records += [Record(f"scheduler.idle_cpu_share.{name}", cores * 100, "%") for name, cores in r.idle_cpu.items()]
    return records + [Record("scheduler.rss", r.scheduler_rss_mib, "MiB"),
                      Record("scheduler.nodes_ready_after", r.nodes_ready_after, "s")]


async def run(settings: Settings, out: Path | None) -> int:
    print(f"scheduler benchmark: {settings.nodes} hollow nodes (real kubelets, fake runtime), {settings.pods} Pods "
          "by one Create each, then by one Deployment")
    with tempfile.TemporaryDirectory(prefix="pykube-bench-scheduler-") as tmp:
        results = await run_once(Path(tmp), settings)
    records = build_records(results)
    for path in results.paths.values():
        for failure in path.failed_calls[:5]:
            print(f"  {path.name}: call failed: {failure}")
    print_table(records)
    if settings.profile is not None:
        folded = sorted(settings.profile.glob("scheduler-*.folded"))
        doc = settings.profile / "profile-scheduler.md"
        doc.write_text(summary(folded, f"Profiles of bench.scheduler ({settings.nodes} hollow nodes, "
                                       f"{settings.pods} Pods per path)"))
        print(f"profiles summarised in {doc}")
    if out is not None:
        conditions = {"mode": mode(settings.quick), "nodes": settings.nodes, "kubelets": "hollow",
                      "pods": settings.pods, "clients": settings.clients, "in_flight": settings.in_flight}
        print(f"appended {len(records)} records to {append_results(out, records, conditions)}")
    return 0  # failures are figures (counted in the records), shown above


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, Path | None]:
    parser = argparse.ArgumentParser(prog="python -m bench.scheduler", description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, metavar="N", help="hollow nodes (default 1000; --quick 100)")
    parser.add_argument("--pods", type=int, metavar="M", help="Pods per path (default 10000; --quick 1000)")
    parser.add_argument("--clients", type=int, metavar="C", help="creating clients, one channel each (default 8)")
    parser.add_argument("--in-flight", type=int, metavar="I", help="Create calls in flight per client (default 16)")
    parser.add_argument("--quick", action="store_true", help="100 hollow nodes, 1000 Pods")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="py-spy every process during each path; folded stacks and their summary into DIR")
    parser.add_argument("--out", type=Path, metavar="DIR", help="append records to DIR/results.json")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else Settings()
    settings = Settings(nodes=args.nodes or base.nodes, pods=args.pods or base.pods,
                        clients=args.clients or base.clients, in_flight=args.in_flight or base.in_flight,
                        timeout=base.timeout, nodes_timeout=base.nodes_timeout, quick=args.quick,
                        profile=args.profile)
    if min(settings.nodes, settings.pods, settings.clients, settings.in_flight) < 1:
        parser.error("--nodes, --pods, --clients and --in-flight must be >= 1")
    return settings, args.out


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark(run, *parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
