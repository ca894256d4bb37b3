"""What the benchmarks share: percentiles (failures counted as infinite latencies),
result records and their table/JSON output (each record stamped with the conditions it
was measured under and the commit it was measured on), and child processes (started and
stopped by PID) such as the apiserver."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Mapping, NoReturn, Sequence, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from apimachinery.kinds import wrap
from protos import api_pb2, api_pb2_grpc, core_pb2, meta_pb2

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 10.0


def percentile(values: Sequence[float], q: float, failures: int = 0) -> float:
    """Nearest-rank percentile (q in 0..100) of values, with `failures` more samples of
    infinite latency (a Pod never Running, a failed or timed-out call): a pQ over a run
    with (100 - Q)% failures or more (a p99 with 1%) is infinite. NaN when there are no
    samples at all."""
    total = len(values) + failures
    if not total:
        return math.nan
    if failures and failures * 100 >= (100 - q) * total:
        return math.inf
    ordered = sorted(values) + [math.inf] * failures
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Timing:
    """Wall-clock and CPU seconds of one phase: the server process's and this process's."""

    wall: float = 0.0
    server_cpu: float = math.nan
    bench_cpu: float = math.nan


@dataclass
class CallStats:
    """Per-call latencies (seconds) of one phase, its failed calls, and its timing."""

    latencies: list[float] = field(default_factory=list)
    timing: Timing = field(default_factory=Timing)
    conflicts: int = 0
    failures: int = 0  # calls that failed or timed out: infinite latencies

    @property
    def wall(self) -> float:
        return self.timing.wall

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.wall if self.wall > 0 else math.nan

    @property
    def server_us_per_op(self) -> float:
        """Server CPU microseconds per call: how much work one write costs the server."""
        return self.timing.server_cpu / len(self.latencies) * 1e6 if self.latencies else math.nan

    def ms(self, q: float) -> float:
        return percentile(self.latencies, q, self.failures) * 1000


@dataclass
class Record:
    """One figure. failures: the samples behind it that failed (they count as infinite
    latencies in a percentile, and a target allows none unless it says otherwise)."""

    name: str
    value: float
    unit: str
    peer: str | None = None
    peer_value: float | None = None
    failures: int = 0

    def as_json(self, conditions: Mapping[str, Any], provenance: Mapping[str, Any],
                timestamp: str) -> dict[str, Any]:
        record: dict[str, Any] = {"name": self.name, "value": _round(self.value), "unit": self.unit}
        if self.peer is not None:
            record.update(peer=self.peer, peer_value=_round(self.peer_value))
        if self.failures or self.value == math.inf:
            record["failures"] = self.failures
        record.update(conditions=dict(conditions), **provenance, timestamp=timestamp)
        return record


def _round(value: float | None) -> float | None:
    """JSON's figure: None for "no figure" (NaN) and for "failed" (an infinite latency)."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return round(value, 3)


def mode(quick: bool) -> str:
    """The mode a benchmark ran in, as records and targets name it."""
    return "quick" if quick else "full"


def provenance(repo: Path = REPO_ROOT) -> dict[str, Any]:
    """The commit the code under measurement is at (`git rev-parse HEAD`) and whether the
    work tree differs from it (tracked or untracked files, .gitignore'd ones aside)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": True}


def call_records(prefix: str, stats: CallStats, peer: str | None = None,
                 peer_stats: CallStats | None = None) -> list[Record]:
    """Throughput and p50/p99 of a phase, with the peer's beside it when it ran."""
    def rec(name: str, unit: str, pick: Callable[[CallStats], float]) -> Record:
        if peer_stats is None:
            return Record(f"{prefix}.{name}", pick(stats), unit, failures=stats.failures)
        return Record(f"{prefix}.{name}", pick(stats), unit, peer, pick(peer_stats),
                      stats.failures + peer_stats.failures)
    return [rec("throughput", "ops/s", lambda s: s.throughput),
            rec("p50", "ms", lambda s: s.ms(50)),
            rec("p99", "ms", lambda s: s.ms(99)),
            rec("server_cpu_per_op", "us", lambda s: s.server_us_per_op)]


def latency_records(name: str, latencies: Sequence[float], failures: int, qs: Sequence[int] = (50, 99),
                    unit: str = "ms", peer: str | None = None, peer_latencies: Sequence[float] | None = None,
                    peer_failures: int = 0) -> list[Record]:
    """NAME.pQ for each q: percentiles of latencies (seconds, shown in unit) with the failures
    as infinite ones, and the peer's beside them where it ran."""
    scale = {"s": 1.0, "ms": 1e3}[unit]
    out = []
    for q in qs:
        peer_value = percentile(peer_latencies, q, peer_failures) * scale if peer_latencies is not None else None
        out.append(Record(f"{name}.p{q}", percentile(latencies, q, failures) * scale, unit,
                          peer if peer_latencies is not None else None, peer_value, failures + peer_failures))
    return out


def _shown(value: float) -> str:
    return "failed" if value == math.inf else f"{value:,.2f}"


def print_table(records: Sequence[Record]) -> None:
    """The figures, with pykube/peer ratios where a peer ran (for throughput: higher is better)."""
    width = max([40, *(len(r.name) for r in records)])
    header = f"{'figure':<{width}} {'pykube':>12} {'unit':<8} {'peer':>12} {'pykube/peer':>11}"
    print()
    print(header)
    print("-" * len(header))
    for r in records:
        peer, ratio = "", ""
        if r.peer is not None and r.peer_value is not None:
            peer = _shown(r.peer_value)
            ratio = f"{r.value / r.peer_value:.2f}" if r.peer_value and math.isfinite(r.value) else "-"
        failed = f"  ({r.failures} failed)" if r.failures else ""
        print(f"{r.name:<{width}} {_shown(r.value):>12} {r.unit:<8} {peer:>12} {ratio:>11}{failed}")
    print()


def append_results(out_dir: Path, records: Sequence[Record], conditions: Mapping[str, Any]) -> Path:
    """Append records to DIR/results.json (a JSON list), keeping what is there. conditions:
    what the benchmark was run with (mode, nodes, pods, runs, ...: what targets check);
    every record also carries the commit it was measured on and whether the tree was dirty."""
    if "mode" not in conditions:
        raise ValueError("a benchmark's conditions must name its mode (quick or full)")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    existing: list[Any] = json.loads(path.read_text()) if path.exists() and path.stat().st_size else []
    if not isinstance(existing, list):
        raise ValueError(f"{path}: expected a JSON list of records")
    timestamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    stamp = provenance()
    existing.extend(r.as_json(conditions, stamp, timestamp) for r in records)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(existing, indent=2) + "\n")
    tmp.replace(path)
    return path


# ------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class ChildProcess:
    """A server process we started; stop() sends SIGTERM to its PID, waits, then SIGKILLs."""

    def __init__(self, name: str, argv: list[str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=REPO_ROOT)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process so far (from /proc; NaN if unavailable)."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return math.nan

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(STOP_TIMEOUT)
        self._log.close()


async def wait_until(ready: Callable[[], Awaitable[bool]], process: ChildProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.check_alive()
        try:
            if await ready():
                return
        except Exception:  # not up yet: connection refused, unavailable, ...
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{process.name} not ready after {timeout:.0f} s:\n{process.log_tail()}")


def start_apiserver(work: Path) -> tuple[ChildProcess, str]:
    address = f"{HOST}:{free_port()}"
    argv = [sys.executable, "-m", "apiserver.main", "--listen", address, "--data-dir", str(work / "apiserver"),
            "--insecure-plaintext"]  # the bare API's figures; the apiserver would otherwise make a CA
    return ChildProcess("pykube-apiserver", argv, work / "apiserver.log"), address


async def apiserver_healthy(address: str) -> bool:
    async with grpc.aio.insecure_channel(address) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
        return reply.status == health_pb2.HealthCheckResponse.SERVING


# ------------------------------------------------------- cluster pieces (appended for startup/memory)


def start_component(work: Path, name: str, module: str, address: str, *extra: str) -> ChildProcess:
    """A pykube service (``python -m MODULE --server ADDRESS ...``) as a child process, logging to WORK/NAME.log."""
    argv = [sys.executable, "-m", module, "--server", address, *extra]
    return ChildProcess(name, argv, work / f"{name}.log")


def log_says(process: ChildProcess, text: str) -> Callable[[], Awaitable[bool]]:
    """A wait_until check: the process has logged TEXT (e.g. "scheduler running")."""
    async def check() -> bool:
        return text in process.log_path.read_text(errors="replace")
    return check


async def start_control_plane(work: Path, address: str, processes: dict[str, ChildProcess],
                              timeout: float = 30.0) -> None:
    """Start the scheduler and the controller-manager (into processes, by their names there)
    and wait until each says it runs."""
    pieces = (("scheduler", "scheduler", "scheduler.main"),
              ("controller_manager", "controller-manager", "controllers.main"))
    for name, log_name, module in pieces:
        processes[name] = start_component(work, log_name, module, address)
    for name, log_name, _ in pieces:
        await wait_until(log_says(processes[name], f"{log_name} running"), processes[name], timeout)


async def wait_nodes_ready(stub: Any, want: int, hollow: ChildProcess, timeout: float) -> float:
    """Wait until WANT hollow Nodes are Ready; the seconds it took (TimeoutError with the hollow log's tail)."""
    started = time.monotonic()
    ready: set[str] = set()
    while time.monotonic() < started + timeout:
        hollow.check_alive()
        ready = await ready_node_names(stub, "hollow-")
        if len(ready) >= want:
            return time.monotonic() - started
        await asyncio.sleep(0.5)
    raise TimeoutError(f"{len(ready)}/{want} hollow Nodes Ready after {timeout:.0f} s; "
                       f"hollow log:\n{hollow.log_tail()}")


def raise_from_stage(err: Exception, stage: str, processes: Iterable[ChildProcess]) -> NoReturn:
    """Re-raise a benchmark's failure, first showing the log's tail of each process that
    exited; a timeout says which stage it hit ("while starting 1000 hollow nodes: ...")."""
    for process in processes:
        if process.proc.poll() is not None:
            print(f"  {process.name} exited with {process.proc.returncode}:\n{process.log_tail()}", file=sys.stderr)
    if isinstance(err, TimeoutError):
        raise TimeoutError(f"while {stage}: {err}") from None
    raise err


def proc_memory_mib(pid: int) -> dict[str, float]:
    """VmRSS (resident now) and VmHWM (resident peak) of a process, in MiB, from
    /proc/PID/status; NaN for what cannot be read (the process is gone)."""
    found = {"VmRSS": math.nan, "VmHWM": math.nan}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in found:
                found[key] = int(value.split()[0]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return found


async def ready_node_names(stub: Any, prefix: str = "") -> set[str]:
    """Names of the Nodes (starting with PREFIX) whose Ready condition is True."""
    reply = await stub.List(api_pb2.ListRequest(kind="Node"), timeout=30)
    ready = set()
    for item in reply.items:
        node = item.node
        if node.metadata.name.startswith(prefix) and any(
                c.type == "Ready" and c.status == "True" for c in node.status.conditions):
            ready.add(node.metadata.name)
    return ready


def run_benchmark(run: Callable[[Any, Path | None], Awaitable[int]], settings: Any, out: Path | None) -> int:
    """A benchmark's main: run it; a timeout is a one-line abort with exit code 2."""
    try:
        return asyncio.run(run(settings, out))
    except TimeoutError as err:
        print(f"benchmark aborted: a phase timed out ({err or 'no detail'})", file=sys.stderr)
        return 2


# ------------------------------------------------------- API clients (the apiserver and security benchmarks)

IMAGE = "docker.io/library/multi-worker:1.0"
NAMESPACE = "default"
# A private subchannel pool gives every channel its own TCP connection (by default gRPC
# shares one connection between channels with the same target and options).
CHANNEL_OPTIONS = [("grpc.use_local_subchannel_pool", 1)]
CALL_TIMEOUT = 10.0
START_TIMEOUT = 20.0

T = TypeVar("T")


def split(items: Sequence[T], parts: int) -> list[list[T]]:
    """Deal items round-robin into parts lists (client i owns items i, i+N, ...)."""
    return [list(items[i::parts]) for i in range(parts)]


async def timed(latencies: list[float], call: Awaitable[T]) -> T:
    start = time.perf_counter()
    result = await call
    latencies.append(time.perf_counter() - start)
    return result


async def measure(server: ChildProcess, work: Awaitable[T]) -> tuple[T, Timing]:
    """Await work; its result, wall time, and the CPU the server and this process spent meanwhile."""
    server_cpu, bench_cpu, start = server.cpu_seconds(), time.process_time(), time.perf_counter()
    result = await work
    return result, Timing(time.perf_counter() - start, server.cpu_seconds() - server_cpu,
                          time.process_time() - bench_cpu)


async def run_clients(server: ChildProcess, workers: Sequence[Awaitable[T]], timeout: float) -> tuple[list[T], Timing]:
    """Run the client coroutines together (bounded by timeout); their results and the timing."""
    results, timing = await measure(server, asyncio.wait_for(asyncio.gather(*workers), timeout))
    return list(results), timing


def merge(parts: Sequence[CallStats], timing: Timing) -> CallStats:
    return CallStats(latencies=[x for p in parts for x in p.latencies], timing=timing,
                     conflicts=sum(p.conflicts for p in parts))


def make_pod(index: int, client: int, namespace: str = NAMESPACE) -> core_pb2.Pod:
    """A small realistic Pod: one container, labels, a port, resource requests."""
    return core_pb2.Pod(
        metadata=meta_pb2.ObjectMeta(
            name=f"multi-worker-{index:06d}", namespace=namespace,
            labels={"app": "multi-worker", "tier": "backend", "bench-client": str(client)}),
        spec=core_pb2.PodSpec(containers=[core_pb2.Container(
            name="worker", image=IMAGE, args=["--threads", "2"],
            env=[core_pb2.EnvVar(name="WORKER_MODE", value="batch")],
            ports=[core_pb2.ContainerPort(name="http", container_port=8080)],
            resources=core_pb2.ResourceRequirements(requests={"cpu": "100m", "memory": "64Mi"},
                                                    limits={"memory": "128Mi"}))]),
    )


async def open_channels(address: str, count: int, credentials: grpc.ChannelCredentials | None = None,
                        options: Sequence[tuple[str, Any]] = ()) -> list[grpc.aio.Channel]:
    """COUNT channels, each its own TCP connection (plaintext, or TLS with credentials), all ready."""
    def channel() -> grpc.aio.Channel:
        opts = [*CHANNEL_OPTIONS, *options]
        if credentials is None:
            return grpc.aio.insecure_channel(address, options=opts)
        return grpc.aio.secure_channel(address, credentials, options=opts)
    channels = [channel() for _ in range(count)]
    await asyncio.wait_for(asyncio.gather(*(c.channel_ready() for c in channels)), START_TIMEOUT)
    return channels


async def create_pods(stub: api_pb2_grpc.APIStub, pods: Sequence[core_pb2.Pod]) -> tuple[CallStats, list[core_pb2.Pod]]:
    stats, created = CallStats(), []
    for pod in pods:
        obj = await timed(stats.latencies, stub.Create(api_pb2.CreateRequest(object=wrap(pod)), timeout=CALL_TIMEOUT))
        created.append(obj.pod)
    return stats, created


async def update_pods(stub: api_pb2_grpc.APIStub, pods: Sequence[core_pb2.Pod]) -> tuple[CallStats, list[core_pb2.Pod]]:
    """Change a label on each Pod, compare-and-swap on the resourceVersion we hold."""
    stats, updated = CallStats(), []
    for pod in pods:
        changed = core_pb2.Pod()
        changed.CopyFrom(pod)
        changed.metadata.labels["version"] = "v2"
        try:
            obj = await timed(stats.latencies,
                              stub.Update(api_pb2.UpdateRequest(object=wrap(changed)), timeout=CALL_TIMEOUT))
        except grpc.aio.AioRpcError as err:
            if err.code() != grpc.StatusCode.ABORTED:
                raise
            stats.conflicts += 1
            continue
        updated.append(obj.pod)
    return stats, updated


def print_phase(label: str, stats: CallStats) -> None:
    extra = f", {stats.conflicts} conflicts" if stats.conflicts else ""
    print(f"{label:<16} {len(stats.latencies):>6} calls in {stats.wall:6.2f} s: {stats.throughput:9.1f} ops/s, "
          f"p50 {stats.ms(50):6.2f} ms, p99 {stats.ms(99):7.2f} ms; CPU: server {stats.timing.server_cpu:.2f} s, "
          f"bench {stats.timing.bench_cpu:.2f} s{extra}", flush=True)
