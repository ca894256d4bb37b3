"""Workloads benchmark on real Podman (issue 14): what ConfigMaps and Secrets cost a Pod's
start, and how fast a changed ConfigMap reaches the file a running container reads.

    python -m bench.workloads [--runs N] [--updates M] [--quick] [--out DIR]      (as root)

Set-up as bench.kubelet's: a node lab (local registry, one Podman node), a real
pykube-apiserver, a controller-manager running only the node IPAM controller, a real
pykubelet (its own --root-dir).

1. pod start with config   N Pods with a ConfigMap volume (mounted) and an env var from a
                           Secret (secretKeyRef), each with a ConfigMap and a Secret of its own
                           created beforehand (untimed), so every start includes the kubelet's
                           first list + watch of both objects (the worst case: Pods of one
                           Deployment share theirs). Peer: the same Pod without the volume and
                           the env var, measured beside it in the same run, N times, in ABBA
                           order (plain, config, config, plain, ...), so drift favours neither.
                           Time from the Create call sent to the Running status seen through a
                           Watch; p50, p95 and their ratio (target ≤ 1.2).
2. config to file          One Pod running with a ConfigMap volume; M updates of the ConfigMap
                           (a new value each), each timed from the Update call sent until the
                           new value is read *inside the container* (`cat` through Podman's
                           exec API, polled back to back: the figure includes up to one exec's
                           duration, an upper bound; that duration is reported too, as
                           workloads.exec_read). Beside it, the same update seen in the
                           kubelet's host-side volume directory (polled every 2 ms). p50 and p99 (target p99 ≤ 2 s; Kubernetes' kubelet takes
                           up to its sync period + the cache's TTL, ~1 min by default).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import grpc
import podman

from apimachinery.kinds import unwrap, wrap
from bench.common import (Record, append_results, apiserver_healthy, latency_records, log_says, mode, print_table,
                          start_apiserver, start_component, wait_until)
from bench.kubelet import NODE, PodWatch, is_running, start_kubelet, summary
from cluster.lab import NodeLab, environment_problems
from protos import api_pb2, api_pb2_grpc, core_pb2, meta_pb2

IMAGE = "docker.io/library/busybox:1.36"
LABEL = {"bench": "kubelet"}  # what bench.kubelet.PodWatch watches
PHASE_TIMEOUT = 120.0
UPDATE_TIMEOUT = 10.0  # one ConfigMap change → file; past it the update counts as a failure
MOUNT = "/etc/cfg"
HOST_POLL = 0.002


@dataclass(frozen=True)
class Settings:
    runs: int = 20  # Pod starts of each kind
    updates: int = 50  # ConfigMap updates timed to the file

    @staticmethod
    def quick() -> "Settings":
        return Settings(runs=4, updates=10)


QUICK = Settings.quick()


def abba(runs: int) -> list[bool]:
    """The order of the start phase, True for the Pod with config: plain, config, config,
    plain, plain, config, ... (runs of each; neither kind always goes first)."""
    order: list[bool] = []
    for i in range(runs):
        order += [False, True] if i % 2 == 0 else [True, False]
    return order


def plain_pod(name: str) -> core_pb2.Pod:
    p = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace="default", labels=LABEL),
                     spec=core_pb2.PodSpec(node_name=NODE, termination_grace_period_seconds=0))
    p.spec.containers.add(name="main", image=IMAGE, command=["sleep", "3600"])
    return p


def config_pod(name: str, config_map: str, secret: str) -> core_pb2.Pod:
    """plain_pod(name) plus a configMap volume mounted at MOUNT and env PASSWORD from the Secret."""
    p = plain_pod(name)
    p.spec.volumes.add(name="cfg").config_map.name = config_map
    c = p.spec.containers[0]
    c.volume_mounts.add(name="cfg", mount_path=MOUNT)
    ref = c.env.add(name="PASSWORD").value_from.secret_key_ref
    ref.name, ref.key = secret, "password"
    return p


def config_objects(name: str, value: str = "0") -> tuple[core_pb2.ConfigMap, core_pb2.Secret]:
    meta = dict(name=name, namespace="default")
    return (core_pb2.ConfigMap(metadata=meta_pb2.ObjectMeta(**meta), data={"value": value}),
            core_pb2.Secret(metadata=meta_pb2.ObjectMeta(**meta), data={"password": b"s3cret"}))


@dataclass
class Measured:
    plain: list[float] = field(default_factory=list)  # seconds, create → Running
    config: list[float] = field(default_factory=list)
    in_container: list[float] = field(default_factory=list)  # seconds, update → new value read
    host_file: list[float] = field(default_factory=list)
    exec_reads: list[float] = field(default_factory=list)  # seconds, one `cat` through the exec API
    failures: Counter[str] = field(default_factory=Counter)


def build_records(m: Measured) -> list[Record]:
    peer = "same Pod without ConfigMap/Secret"
    return (latency_records("workloads.pod_start_config", m.config, m.failures["config"], (50, 95), "ms",
                            peer, m.plain, m.failures["plain"])
            + latency_records("workloads.config_to_file", m.in_container, m.failures["in_container"], (50, 99), "ms")
            + latency_records("workloads.config_to_host_file", m.host_file, m.failures["host_file"], (50, 99), "ms")
            + latency_records("workloads.exec_read", m.exec_reads, 0, (50, 99), "ms"))


# ------------------------------------------------------------------ phases


async def start_phase(stub: api_pb2_grpc.APIStub, watch: PodWatch, runs: int, m: Measured) -> None:
    for i, with_config in enumerate(abba(runs)):
        name = f"{'cfg' if with_config else 'plain'}-{i}"
        if with_config:
            for obj in config_objects(name):  # untimed: the Pod's own objects exist before it does
                await stub.Create(api_pb2.CreateRequest(object=wrap(obj)))
            pod = config_pod(name, name, name)
        else:
            pod = plain_pod(name)
        sent = time.monotonic()
        await stub.Create(api_pb2.CreateRequest(object=wrap(pod)))
        try:
            elapsed = await watch.wait(name, is_running(0), timeout=PHASE_TIMEOUT) - sent
        except TimeoutError:
            m.failures["config" if with_config else "plain"] += 1
            continue
        (m.config if with_config else m.plain).append(elapsed)


def read_in_container(container, path: str) -> bytes:
    """The file as the container sees it (`cat` through Podman's exec API; its stdout only)."""
    code, (stdout, _) = container.exec_run(["cat", path], demux=True)
    return stdout or b"" if code == 0 else b""


async def until_in_container(container, path: str, want: bytes, deadline: float, reads: list[float]) -> float:
    """When the container first reads `want` (the end of that exec: an upper bound). reads:
    each exec's own duration, appended (what the figure includes at most once)."""
    while time.monotonic() < deadline:
        began = time.monotonic()
        seen = await asyncio.to_thread(read_in_container, container, path)
        ended = time.monotonic()
        reads.append(ended - began)
        if seen == want:
            return ended
    raise TimeoutError


async def until_on_host(path: str, want: bytes, deadline: float) -> float:
    while time.monotonic() < deadline:
        try:
            with open(path, "rb") as f:
                if f.read() == want:
                    return time.monotonic()
        except OSError:
            pass
        await asyncio.sleep(HOST_POLL)
    raise TimeoutError


async def update_phase(stub: api_pb2_grpc.APIStub, watch: PodWatch, client: podman.PodmanClient, root_dir: Path,
                       updates: int, m: Measured) -> None:
    for obj in config_objects("watched"):
        await stub.Create(api_pb2.CreateRequest(object=wrap(obj)))
    created = unwrap(await stub.Create(api_pb2.CreateRequest(object=wrap(config_pod("watched", "watched",
                                                                                     "watched")))))
    await watch.wait("watched", is_running(0), timeout=PHASE_TIMEOUT)
    status = watch.latest["watched"].status.container_statuses[0]
    container = client.containers.get(status.container_id.split("://", 1)[1])
    host_file = os.path.join(root_dir, "pods", created.metadata.uid, "volumes", "kubernetes.io~configmap", "cfg",
                             "value")
    for i in range(1, updates + 1):
        cm = unwrap(await stub.Get(api_pb2.GetRequest(kind="ConfigMap", namespace="default", name="watched")))
        want = f"v{i}"
        cm.data["value"] = want
        sent = time.monotonic()
        await stub.Update(api_pb2.UpdateRequest(object=wrap(cm)))
        deadline = sent + UPDATE_TIMEOUT
        inside, host = await asyncio.gather(until_in_container(container, f"{MOUNT}/value", want.encode(), deadline,
                                                               m.exec_reads),
                                            until_on_host(host_file, want.encode(), deadline),
                                            return_exceptions=True)
        for figure, seen, values in (("in_container", inside, m.in_container), ("host_file", host, m.host_file)):
            if isinstance(seen, BaseException):
                m.failures[figure] += 1
            else:
                values.append(seen - sent)


async def phases(address: str, lab: NodeLab, root_dir: Path, settings: Settings) -> Measured:
    channel = grpc.aio.insecure_channel(address)
    stub = api_pb2_grpc.APIStub(channel)
    watch = PodWatch(stub)
    await watch.start()
    client = podman.PodmanClient(base_url=lab.nodes[NODE].url)
    m = Measured()
    try:
        for obj in config_objects("warm-up"):
            await stub.Create(api_pb2.CreateRequest(object=wrap(obj)))
        await stub.Create(api_pb2.CreateRequest(object=wrap(config_pod("warm-up", "warm-up", "warm-up"))))
        await watch.wait("warm-up", is_running(0), timeout=PHASE_TIMEOUT)  # the image pulled once, untimed
        await start_phase(stub, watch, settings.runs, m)
        await update_phase(stub, watch, client, root_dir, settings.updates, m)
        return m
    finally:
        await watch.stop()
        client.close()
        await channel.close()


def run(settings: Settings, out: Path | None, quick: bool) -> int:
    problems = environment_problems()
    if problems:
        print("bench.workloads cannot run here: " + "; ".join(problems), file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pkw-") as tmp:
        work = Path(tmp)
        lab = NodeLab(work / "lab", node_names=(NODE,)).start()
        apiserver = ipam = kubelet = None
        root_dir = work / "kubelet-root"
        try:
            apiserver, address = start_apiserver(work)
            asyncio.run(wait_until(lambda: apiserver_healthy(address), apiserver, 20))
            ipam = start_component(work, "controller-manager", "controllers.main", address, "--controllers", "nodeipam")
            asyncio.run(wait_until(log_says(ipam, "controller-manager running"), ipam, 20))
            kubelet = start_kubelet(work, address, lab, "--root-dir", str(root_dir))
            try:
                m = asyncio.run(asyncio.wait_for(phases(address, lab, root_dir, settings),
                                                 PHASE_TIMEOUT * 2 + 10 * settings.runs
                                                 + UPDATE_TIMEOUT * settings.updates))
            except Exception:
                print(f"kubelet log (tail):\n{kubelet.log_tail(40)}", file=sys.stderr)
                raise
        finally:
            for process in (kubelet, ipam, apiserver):
                if process is not None:
                    process.stop()
            lab.cleanup()
    print(summary("pykube: Pod with ConfigMap volume + Secret env → Running", m.config))
    print(summary("peer: the same Pod without them", m.plain))
    print(summary("pykube: ConfigMap update → new value inside the container", m.in_container, (50, 99)))
    print(summary("pykube: ConfigMap update → new value in the host-side volume", m.host_file, (50, 99)))
    print(summary("one `cat` through Podman's exec API (included above)", m.exec_reads, (50, 99)))
    results = build_records(m)
    print_table(results)
    if out is not None:
        print(f"results appended to {append_results(out, results, conditions_of(settings, quick))}")
    return 0


def conditions_of(settings: Settings, quick: bool) -> dict[str, object]:
    """What the records were measured under (what bench.targets checks)."""
    return {"mode": mode(quick), "runs": settings.runs, "updates": settings.updates}


def parse_args(argv: Sequence[str] | None) -> tuple[Settings, Path | None, bool]:
    default = Settings()
    parser = argparse.ArgumentParser(prog="python -m bench.workloads", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=default.runs,
                        help="Pod starts of each kind, with and without config (default %(default)s)")
    parser.add_argument("--updates", type=int, default=default.updates,
                        help="ConfigMap updates timed to the mounted file (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK.runs} starts of each kind, {QUICK.updates} updates")
    parser.add_argument("--out", type=Path, help="append records to DIR/results.json")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.updates < 1:
        parser.error("--runs and --updates must be at least 1")
    return (QUICK if args.quick else Settings(args.runs, args.updates)), args.out, args.quick


def main(argv: Sequence[str] | None = None) -> int:
    settings, out, quick = parse_args(argv)
    return run(settings, out, quick)


if __name__ == "__main__":
    sys.exit(main())
