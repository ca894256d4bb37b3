"""Memory (RSS) of the control plane with 1000 and 10 000 Pods running, and of one kubelet.

    python -m bench.memory                     # 100 hollow nodes; 1000 then 10 000 Pods
    python -m bench.memory --quick             # 50 hollow nodes; 200 then 1000 Pods
    python -m bench.memory --nodes 100 --pods 1000,10000 --out results/
    python -m bench.memory --podman-kubelet    # also one pykubelet on real Podman (root)

The processes are the real ones, each its own: ``pykube-apiserver`` (SQLite store in
a temp dir), ``pykube-scheduler``, ``pykube-controller-manager`` and one
``python -m kubelet.hollow`` process with N hollow kubelets (real kubelet code on the
fake runtime; ``--max-pods`` raised so that 10 000 Pods fit on 100 nodes). The Pods
come from D Deployments (one container, requests 10m / 16Mi: a hollow node
advertises 4 cpu / 16 Gi, so 200 of them fit), first scaled to S1 / D replicas each,
then to S2 / D: the controller-manager does its real work (Deployment → ReplicaSet
→ Pods, status), the scheduler places every Pod and the hollow kubelets run them and
report their status. At each size the benchmark waits until a Pod watch shows every
Pod Running and Ready, lets things settle for a few seconds, and reads VmRSS
(resident now) and VmHWM (resident peak, e.g. while the burst of Pods was being
scheduled) from /proc/PID/status. Figures and targets are in MiB (2^20 bytes; /proc
counts KiB).

Why RSS: it is what a user's machine pays for the process, the figure ``top`` and
the issue's target (control plane, the sum of the three, <= 300 MiB at 1000 Pods) use.
The hollow process is reported as a whole and per node; it shares one interpreter,
so per node is an upper bound of what one more hollow node costs.

"One kubelet" is a separate ``python -m kubelet.main --runtime fake`` process (its
own interpreter, gRPC channel, informers and log server) running 110 Pods bound to
it (Kubernetes' default max-pods; 30 in quick mode), measured once they are Running: the fake runtime, so the figure is the
kubelet's own code and state without a Podman client (podman-py adds a little; the
issue's target is <= 60 MiB). With ``--podman-kubelet`` (default in the full mode when
running as root with Podman), a real pykubelet on a real Podman node (the node lab
of bench.kubelet) running the same number of Pods as containers is measured as well.
Every process is stopped by PID at the end, also on errors and time-outs.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from bench.common import (
    ChildProcess,
    Record,
    apiserver_healthy,
    append_results,
    mode,
    log_says,
    print_table,
    raise_from_stage,
    proc_memory_mib,
    ready_node_names,
    run_benchmark,
    start_apiserver,
    start_component,
    start_control_plane,
    wait_nodes_ready,
    wait_until,
)
from bench.targets import target_named
from client.api import is_conflict, unwrap, wrap
from protos import api_pb2, api_pb2_grpc, apps_pb2, core_pb2, meta_pb2

NAMESPACE = "default"
IMAGE = "docker.io/library/multi-worker:1.0"
START_TIMEOUT = 30.0
CALL_TIMEOUT = 60.0
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]
CONTROL_PLANE = ("apiserver", "scheduler", "controller_manager")
CONTROL_PLANE_TARGET_MIB = target_named("memory.control_plane.1000pods").threshold
KUBELET_TARGET_MIB = target_named("memory.kubelet").threshold
KUBELET_NODE = "k1"
PODMAN_NODE = "n1"


@dataclass
class Settings:
    nodes: int = 100
    max_pods: int = 200
    sizes: tuple[int, ...] = (1000, 10000)
    deployments: int = 10
    kubelet_pods: int = 110  # Kubernetes' default max-pods
    settle: float = 3.0
    podman_kubelet: bool = False
    quick: bool = False
    nodes_timeout: float = 120.0


QUICK = Settings(nodes=50, max_pods=110, sizes=(200, 1000), kubelet_pods=30, quick=True)


# ------------------------------------------------------------------ pure helpers


def replicas_per_deployment(total: int, deployments: int) -> list[int]:
    """Split TOTAL Pods over DEPLOYMENTS as evenly as possible (the first ones get the rest)."""
    base, extra = divmod(total, deployments)
    return [base + (1 if i < extra else 0) for i in range(deployments)]


def check_capacity(sizes: Sequence[int], nodes: int, max_pods: int) -> str | None:
    """Why the hollow nodes cannot hold the largest size (None when they can)."""
    if sizes and max(sizes) > nodes * max_pods:
        return (f"{max(sizes)} Pods do not fit on {nodes} nodes with max-pods {max_pods} "
                f"(room for {nodes * max_pods})")
    return None


def memory_records(label: str, memory: dict[str, dict[str, float]]) -> list[Record]:
    """RSS and peak of each process at one size (LABEL, e.g. "1000pods"), and of the
    control plane (the sum of its three): ``memory.<process>.<label>[.peak]``, the names
    bench/targets.py holds the targets against (``memory.control_plane.1000pods``)."""
    records: list[Record] = []
    for name, values in memory.items():
        records.append(Record(f"memory.{name}.{label}", values["VmRSS"], "MiB"))
        records.append(Record(f"memory.{name}.{label}.peak", values["VmHWM"], "MiB"))
    if all(name in memory for name in CONTROL_PLANE):
        records.append(Record(f"memory.control_plane.{label}",
                              sum(memory[n]["VmRSS"] for n in CONTROL_PLANE), "MiB"))
        records.append(Record(f"memory.control_plane.{label}.peak",
                              sum(memory[n]["VmHWM"] for n in CONTROL_PLANE), "MiB"))
    return records


def marginal_kib_per_node(hollow_mib: float, one_kubelet_mib: float, nodes: int) -> float:
    """KB of RSS per hollow node beyond the first: the hollow process (N nodes, one
    interpreter) minus one kubelet process alone, over N - 1. An estimate (the
    kubelet process also runs a log server, the hollow one does not)."""
    if nodes < 2:
        return math.nan
    return (hollow_mib - one_kubelet_mib) * 1024 / (nodes - 1)


def is_running_ready(pod: core_pb2.Pod) -> bool:
    return pod.status.phase == "Running" and any(
        c.type == "Ready" and c.status == "True" for c in pod.status.conditions)


# ------------------------------------------------------------------ objects


def make_deployment(index: int, replicas: int) -> apps_pb2.Deployment:
    labels = {"app": f"mem-{index}", "bench": "memory"}
    deployment = apps_pb2.Deployment(metadata=meta_pb2.ObjectMeta(name=f"mem-{index}", namespace=NAMESPACE))
    deployment.spec.replicas = replicas
    deployment.spec.selector.match_labels.update({"app": f"mem-{index}"})
    deployment.spec.template.metadata.labels.update(labels)
    deployment.spec.template.spec.containers.add(
        name="worker", image=IMAGE,
        resources=core_pb2.ResourceRequirements(requests={"cpu": "10m", "memory": "16Mi"}))
    return deployment


def bound_pod(name: str, node: str, label: str) -> core_pb2.Pod:
    pod = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace=NAMESPACE, labels={"bench": label}),
                       spec=core_pb2.PodSpec(node_name=node, termination_grace_period_seconds=1))
    pod.spec.containers.add(name="worker", image=IMAGE)
    return pod


class RunningPods:
    """A watch over Pods with a label, keeping the set of those Running and Ready now."""

    def __init__(self, stub: api_pb2_grpc.APIStub, selector: str) -> None:
        self.stub = stub
        self.selector = selector
        self.running: set[str] = set()
        self.seen: set[str] = set()
        self.revision = ""
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        listed = await self.stub.List(api_pb2.ListRequest(kind="Pod", namespace=NAMESPACE,
                                                          label_selector=self.selector), timeout=CALL_TIMEOUT)
        for item in listed.items:
            self._note("ADDED", item.pod)
        self.revision = listed.resource_version
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:  # reopened from the last revision if the server ends the stream
            call = self.stub.Watch(api_pb2.WatchRequest(kind="Pod", namespace=NAMESPACE, label_selector=self.selector,
                                                        resource_version=self.revision, allow_bookmarks=True))
            try:
                async for event in call:
                    pod = unwrap(event.object)
                    self.revision = pod.metadata.resource_version or self.revision
                    if event.type != "BOOKMARK":
                        self._note(event.type, pod)
            finally:
                call.cancel()

    def _note(self, kind: str, pod: core_pb2.Pod) -> None:
        name = pod.metadata.name
        self.seen.add(name)
        if kind != "DELETED" and is_running_ready(pod) and not pod.metadata.HasField("deletion_timestamp"):
            self.running.add(name)
        else:
            self.running.discard(name)

    async def wait_for(self, want: int, timeout: float, what: str,
                       alive: Callable[[], None] = lambda: None) -> float:
        """Wait until exactly WANT Pods run; the seconds it took. Prints progress."""
        start = time.monotonic()
        last_print = start
        while len(self.running) != want:
            alive()
            now = time.monotonic()
            if now - start > timeout:
                raise TimeoutError(f"{what}: {len(self.running)}/{want} Pods Running after {timeout:.0f} s "
                                   f"({len(self.seen)} seen)")
            if now - last_print >= 15:
                print(f"    ... {len(self.running)}/{want} Running after {now - start:.0f} s", flush=True)
                last_print = now
            await asyncio.sleep(0.2)
        return time.monotonic() - start

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


# ------------------------------------------------------------------ phases


@dataclass
class Results:
    settings: Settings
    kubelet: dict[str, dict[str, float]] = field(default_factory=dict)  # "fake"/"podman" -> idle/pods -> MiB
    baseline: dict[str, dict[str, float]] = field(default_factory=dict)  # process -> VmRSS/VmHWM, 0 Pods
    stages: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)
    time_to_running: dict[int, float] = field(default_factory=dict)


async def one_kubelet(stub: api_pb2_grpc.APIStub, process: ChildProcess, node: str, pods: int,
                      settle: float, timeout: float) -> dict[str, float]:
    """Start-to-Running of PODS Pods bound to NODE's kubelet; its RSS idle and with them.
    The Pods and the Node are removed again afterwards (the kubelet is stopped first)."""
    await wait_until(log_says(process, "kubelet running"), process, START_TIMEOUT)
    deadline = time.monotonic() + START_TIMEOUT
    while node not in await ready_node_names(stub, node):
        process.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"Node {node} not Ready after {START_TIMEOUT:.0f} s:\n{process.log_tail()}")
        await asyncio.sleep(0.2)
    await asyncio.sleep(settle)
    idle = proc_memory_mib(process.pid)
    label = f"memory-{node}"
    watch = RunningPods(stub, f"bench={label}")
    await watch.start()
    try:
        pods_to_run = [bound_pod(f"{node}-{i:02d}", node, label) for i in range(pods)]
        await asyncio.gather(*(stub.Create(api_pb2.CreateRequest(object=wrap(p)), timeout=CALL_TIMEOUT)
                               for p in pods_to_run))
        took = await watch.wait_for(pods, timeout, f"kubelet {node}", process.check_alive)
    finally:
        await watch.stop()
    await asyncio.sleep(settle)
    loaded = proc_memory_mib(process.pid)
    return {"rss_idle": idle["VmRSS"], "rss": loaded["VmRSS"], "hwm": loaded["VmHWM"], "time_to_running": took}


async def remove_node(stub: api_pb2_grpc.APIStub, node: str, pods: int) -> None:
    """Force-delete a stopped kubelet's Pods (grace 0: no kubelet will confirm) and its Node."""
    for i in range(pods):
        try:
            await stub.Delete(api_pb2.DeleteRequest(kind="Pod", namespace=NAMESPACE, name=f"{node}-{i:02d}",
                                                    grace_period_seconds=0), timeout=CALL_TIMEOUT)
        except grpc.RpcError:
            pass
    try:
        await stub.Delete(api_pb2.DeleteRequest(kind="Node", name=node), timeout=CALL_TIMEOUT)
    except grpc.RpcError:
        pass


async def scale(stub: api_pb2_grpc.APIStub, sizes: list[int], create: bool) -> None:
    """Create the Deployments, or set their replicas (compare-and-swap, retried on conflict)."""
    async def one(index: int, replicas: int) -> None:
        if create:
            await stub.Create(api_pb2.CreateRequest(object=wrap(make_deployment(index, replicas))),
                              timeout=CALL_TIMEOUT)
            return
        for _ in range(20):
            got = await stub.Get(api_pb2.GetRequest(kind="Deployment", namespace=NAMESPACE, name=f"mem-{index}"),
                                 timeout=CALL_TIMEOUT)
            deployment = unwrap(got)
            deployment.spec.replicas = replicas
            try:
                await stub.Update(api_pb2.UpdateRequest(object=wrap(deployment)), timeout=CALL_TIMEOUT)
                return
            except grpc.RpcError as err:
                if not is_conflict(err):
                    raise
        raise RuntimeError(f"Deployment mem-{index}: scale kept conflicting")
    await asyncio.gather(*(one(i, n) for i, n in enumerate(sizes)))


def measure(processes: dict[str, ChildProcess]) -> dict[str, dict[str, float]]:
    return {name: proc_memory_mib(p.pid) for name, p in processes.items()}


async def podman_kubelet(work: Path, address: str, stub: api_pb2_grpc.APIStub, settings: Settings,
                         results: Results) -> None:
    """One pykubelet on a real Podman node (the bench.kubelet node lab), running the same Pods."""
    from cluster.lab import NodeLab, environment_problems
    problems = environment_problems()
    if problems:
        print(f"  real-Podman kubelet skipped: {'; '.join(problems)}")
        return
    lab = await asyncio.to_thread(lambda: NodeLab(work / "lab", node_names=(PODMAN_NODE,)).start())
    kubelet: ChildProcess | None = None
    try:
        node = lab.nodes[PODMAN_NODE]
        kubelet = start_component(work, "kubelet-podman", "kubelet.main", address, "--node-name", PODMAN_NODE,
                                  "--podman-url", node.url, "--probe-netns", node.netns_path)
        results.kubelet["podman"] = await one_kubelet(stub, kubelet, PODMAN_NODE, settings.kubelet_pods,
                                                      settings.settle, 300.0)
        print(f"  real-Podman kubelet: {results.kubelet['podman']['rss']:.1f} MiB RSS with "
              f"{settings.kubelet_pods} Pods")
    finally:
        if kubelet is not None:
            kubelet.stop()
        await asyncio.to_thread(lab.cleanup)
        await remove_node(stub, PODMAN_NODE, settings.kubelet_pods)


async def run_once(work: Path, settings: Settings) -> Results:
    results = Results(settings)
    apiserver, address = start_apiserver(work)
    processes: dict[str, ChildProcess] = {"apiserver": apiserver}
    extra: list[ChildProcess] = []
    channel: grpc.aio.Channel | None = None
    watch: RunningPods | None = None
    stage = "starting the apiserver"
    try:
        await wait_until(lambda: apiserver_healthy(address), apiserver, START_TIMEOUT)
        stage = "starting the scheduler and controller-manager"
        await start_control_plane(work, address, processes)
        channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS)
        stub = api_pb2_grpc.APIStub(channel)

        stage = f"one kubelet (fake runtime) with {settings.kubelet_pods} Pods"
        kubelet = start_component(work, "kubelet-fake", "kubelet.main", address, "--runtime", "fake",
                                  "--node-name", KUBELET_NODE)
        extra.append(kubelet)
        try:
            results.kubelet["fake"] = await one_kubelet(stub, kubelet, KUBELET_NODE, settings.kubelet_pods,
                                                        settings.settle, 60.0)
        finally:
            kubelet.stop()
        await remove_node(stub, KUBELET_NODE, settings.kubelet_pods)
        print(f"  one kubelet (fake runtime): {results.kubelet['fake']['rss']:.1f} MiB RSS with "
              f"{settings.kubelet_pods} Pods ({results.kubelet['fake']['rss_idle']:.1f} MiB idle)")
        if settings.podman_kubelet:
            stage = "one kubelet on real Podman"
            await podman_kubelet(work, address, stub, settings, results)

        stage = f"starting {settings.nodes} hollow nodes"
        processes["hollow_nodes"] = start_component(work, "hollow-nodes", "kubelet.hollow", address,
                                                    "--nodes", str(settings.nodes),
                                                    "--max-pods", str(settings.max_pods))
        ready_after = await wait_nodes_ready(stub, settings.nodes, processes["hollow_nodes"], settings.nodes_timeout)
        print(f"  {settings.nodes} hollow Nodes Ready after {ready_after:.1f} s")
        await asyncio.sleep(settings.settle)
        results.baseline = measure(processes)

        def alive() -> None:
            for process in processes.values():
                process.check_alive()

        watch = RunningPods(stub, "bench=memory")
        await watch.start()
        for n, size in enumerate(settings.sizes):
            stage = f"{size} Pods"
            per = replicas_per_deployment(size, settings.deployments)
            verb = "creating" if n == 0 else "scaling"
            print(f"  {verb} {settings.deployments} Deployments to {per[0]} replicas ({size} Pods)", flush=True)
            await scale(stub, per, create=(n == 0))
            timeout = 60.0 + size * 0.1
            results.time_to_running[size] = await watch.wait_for(size, timeout, stage, alive)
            print(f"    {size} Pods Running after {results.time_to_running[size]:.1f} s", flush=True)
            await asyncio.sleep(settings.settle)
            results.stages[size] = measure(processes)
        alive()
        return results
    except Exception as err:
        raise_from_stage(err, stage, [*processes.values(), *extra])
    finally:
        if watch is not None:
            await watch.stop()
        if channel is not None:
            await channel.close()
        for process in [*extra, *reversed(list(processes.values()))]:
            process.stop()


def build_records(r: Results) -> list[Record]:
    """``memory.kubelet`` is the fake-runtime kubelet with its Pods (the issue's "one
    kubelet"); ``memory.kubelet_podman`` the real-Podman one when it ran."""
    records: list[Record] = []
    for runtime, values in r.kubelet.items():
        prefix = "memory.kubelet" if runtime == "fake" else f"memory.kubelet_{runtime}"
        records += [Record(prefix, values["rss"], "MiB"),
                    Record(f"{prefix}.peak", values["hwm"], "MiB"),
                    Record(f"{prefix}.idle", values["rss_idle"], "MiB")]
    nodes = r.settings.nodes
    records += memory_records("0pods", r.baseline)
    hollow0 = r.baseline.get("hollow_nodes", {}).get("VmRSS", math.nan)
    records.append(Record("memory.hollow_nodes.0pods.per_node", hollow0 / nodes, "MiB"))
    if "fake" in r.kubelet and nodes > 1:
        # What one more hollow node costs: the hollow process beyond what one kubelet alone
        # (same code, its own interpreter) takes idle, over the other N - 1 nodes.
        records.append(Record("memory.hollow_nodes.marginal_per_node", marginal_kib_per_node(
            hollow0, r.kubelet["fake"]["rss_idle"], nodes), "KiB"))
    for size, memory in r.stages.items():
        label = f"{size}pods"
        records += memory_records(label, memory)
        hollow = memory["hollow_nodes"]["VmRSS"]
        records.append(Record(f"memory.hollow_nodes.{label}.per_node", hollow / nodes, "MiB"))
        records.append(Record(f"memory.hollow_nodes.{label}.per_pod", (hollow - hollow0) * 1024 / size, "KiB"))
        records.append(Record(f"memory.time_to_running.{label}", r.time_to_running[size], "s"))
    return records


def verdicts(r: Results) -> list[str]:
    """The memory targets (bench/targets.py, in MiB), shown against this run's figures."""
    lines = []
    for size, memory in r.stages.items():
        if size == 1000:
            total = sum(memory[n]["VmRSS"] for n in CONTROL_PLANE)
            lines.append(_verdict("control plane RSS at 1000 Pods", total, CONTROL_PLANE_TARGET_MIB))
    for runtime, values in r.kubelet.items():
        lines.append(_verdict(f"one kubelet ({runtime} runtime, {r.settings.kubelet_pods} Pods) RSS",
                              values["rss"], KUBELET_TARGET_MIB))
    return lines


def _verdict(label: str, mib: float, target_mib: float) -> str:
    if mib <= target_mib:
        return f"  {label}: {mib:.1f} MiB, target <= {target_mib:g} MiB met"
    return f"  {label}: {mib:.1f} MiB, target <= {target_mib:g} MiB MISSED by {mib - target_mib:.1f} MiB"


async def run(settings: Settings, out: Path | None) -> int:
    sizes = " then ".join(str(s) for s in settings.sizes)
    print(f"memory benchmark: {settings.nodes} hollow nodes (max-pods {settings.max_pods}), "
          f"{settings.deployments} Deployments, {sizes} Pods; one kubelet with {settings.kubelet_pods} Pods")
    with tempfile.TemporaryDirectory(prefix="pykube-bench-memory-") as tmp:
        results = await run_once(Path(tmp), settings)
    records = build_records(results)
    print_table(records)
    print("targets (shown, not asserted):")
    for line in verdicts(results):
        print(line)
    if out is not None:
        conditions = {"mode": mode(settings.quick), "nodes": settings.nodes, "max_pods": settings.max_pods,
                      "sizes": ",".join(map(str, settings.sizes)), "deployments": settings.deployments,
                      "kubelet_pods": settings.kubelet_pods, "kubelet_runtimes": ",".join(results.kubelet)}
        print(f"appended {len(records)} records to {append_results(out, records, conditions)}")
    return 0


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, Path | None]:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, metavar="N", help="hollow nodes (default 100; --quick 50)")
    parser.add_argument("--max-pods", type=int, metavar="M", help="Pods per hollow node (default 200; --quick 110)")
    parser.add_argument("--pods", metavar="S1,S2,...", help="Pod counts measured in turn (default 1000,10000; "
                                                            "--quick 200,1000)")
    parser.add_argument("--deployments", type=int, metavar="D", help="Deployments the Pods come from (default 10)")
    parser.add_argument("--podman-kubelet", action=argparse.BooleanOptionalAction, default=None,
                        help="also measure a pykubelet on real Podman (default: in full mode, when running "
                             "as root with Podman)")
    parser.add_argument("--quick", action="store_true", help="50 hollow nodes, 200 then 1000 Pods")
    parser.add_argument("--out", type=Path, metavar="DIR", help="append records to DIR/results.json")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else Settings()
    try:
        sizes = tuple(int(s) for s in args.pods.split(",")) if args.pods else base.sizes
    except ValueError:
        parser.error("--pods takes comma-separated Pod counts, e.g. 1000,10000")
    podman = args.podman_kubelet
    if podman is None:
        from cluster.lab import environment_problems
        podman = not args.quick and not environment_problems()
    settings = Settings(nodes=args.nodes or base.nodes, max_pods=args.max_pods or base.max_pods, sizes=sizes,
                        deployments=args.deployments or base.deployments, podman_kubelet=podman,
                        kubelet_pods=base.kubelet_pods, quick=args.quick)
    if settings.nodes < 1 or settings.deployments < 1 or not sizes or min(sizes) < 1:
        parser.error("--nodes, --deployments and --pods must be >= 1")
    problem = check_capacity(sizes, settings.nodes, settings.max_pods)
    if problem:
        parser.error(problem)
    return settings, args.out


def main(argv: Sequence[str] | None = None) -> int:
    return run_benchmark(run, *parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
