"""Kubelet benchmark on real Podman: how fast a bound Pod runs, and how fast a
killed container runs again, beside what Podman alone takes on the same node.

    python -m bench.kubelet [--runs N] [--kills K] [--quick] [--out DIR]      (as root)

``--profile DIR`` runs N more Pod starts after the timed phases under py-spy (the kubelet
and the apiserver, waiting threads included: a kubelet mostly waits on Podman's REST API)
and summarises them into DIR/profile-kubelet.md.

Set-up: a node lab (local registry, one Podman node with its own storage and
sealed network namespace), a real pykube-apiserver, a real pykubelet, and a
controller-manager running only the node IPAM controller (the kubelet runs Pods once its
Node has a podCIDR, as in a cluster).

1. pod start   N Pods, each created already bound to the node (nodeName set), image
               in the node's cache: time from the Create call being sent to the
               Running status arriving through a Watch. Peer: `podman run -d` of
               the same image through the node's API socket, timed from the call
               being sent until it returns (Podman has started the container: the
               container is running when the call returns). Fair to the peer: it
               gets the same untimed warm-up run as pykube, and the runs are
               interleaved (pykube, peer, pykube, peer, ...).
2. self-heal   K kills (default 50, --quick 10), each of a different Pod's
               container, once (`podman kill` through the API): time from the kill
               to the Pod's status showing the new container running (restartCount
               1), through the Watch; p50, p95 and p99. The N Pods of phase 1 are
               killed first; when K > N the rest are created beforehand (all at once,
               untimed) and left to settle. Each Pod is killed only once because a
               first restart is immediate in Kubernetes' back-off curve (a second
               would wait 10 s), so every kill measures the detection + restart
               path. Peer: Podman's own restart policy (`--restart=always`), kill →
               running again, polled; where Podman won't restart it, a script that
               kills, waits for the exit and `podman start`s (the floor under any
               restart); K times each.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

import grpc
import podman

from apimachinery.kinds import unwrap, wrap
from bench.common import (ChildProcess, append_results, apiserver_healthy, latency_records, log_says, mode,
                          percentile, print_table, start_apiserver, start_component, wait_until)
from bench.profile import Profiles
from bench.profile import summary as profile_summary
from cluster.lab import NodeLab, environment_problems
from protos import api_pb2, api_pb2_grpc, core_pb2, meta_pb2

NODE = "n1"
IMAGE = "docker.io/library/multi-worker:1.0"
PHASE_TIMEOUT = 120.0
SETTLE = 1.0  # seconds of quiet after the extra Pods run, before the first kill


def pod(name: str) -> core_pb2.Pod:
    p = core_pb2.Pod(metadata=meta_pb2.ObjectMeta(name=name, namespace="default", labels={"bench": "kubelet"}),
                     spec=core_pb2.PodSpec(node_name=NODE, termination_grace_period_seconds=1))
    p.spec.containers.add(name="worker", image=IMAGE)
    return p


class PodWatch:
    """One Watch over the benchmark's Pods; callers wait for a condition on a Pod."""

    def __init__(self, stub: api_pb2_grpc.APIStub) -> None:
        self.stub = stub
        self.latest: dict[str, core_pb2.Pod] = {}
        self.changed = asyncio.Condition()
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        listed = await self.stub.List(api_pb2.ListRequest(kind="Pod", label_selector="bench=kubelet"))
        self.task = asyncio.create_task(self._run(listed.resource_version))

    async def _run(self, revision: str) -> None:
        call = self.stub.Watch(api_pb2.WatchRequest(kind="Pod", label_selector="bench=kubelet",
                                                    resource_version=revision))
        async for event in call:
            obj = unwrap(event.object)
            async with self.changed:
                self.latest[obj.metadata.name] = obj
                self.changed.notify_all()

    async def wait(self, name: str, ok, timeout: float = 60.0) -> float:
        """Wait until ok(pod) holds; return the monotonic time it was observed."""
        async def until() -> float:
            async with self.changed:
                while not (name in self.latest and ok(self.latest[name])):
                    await self.changed.wait()
                return time.monotonic()
        return await asyncio.wait_for(until(), timeout)

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()


def is_running(restarts: int):
    def ok(p: core_pb2.Pod) -> bool:
        statuses = p.status.container_statuses
        return (p.status.phase == "Running" and len(statuses) == 1 and statuses[0].state.HasField("running")
                and statuses[0].restart_count == restarts)
    return ok


def start_kubelet(work: Path, address: str, lab: NodeLab, *extra: str) -> ChildProcess:
    node = lab.nodes[NODE]
    argv = [sys.executable, "-m", "kubelet.main", "--server", address, "--node-name", NODE,
            "--podman-url", node.url, "--probe-netns", node.netns_path, *extra]
    return ChildProcess("pykubelet", argv, work / "kubelet.log")


async def kubelet_phases(address: str, lab: NodeLab, runs: int, kills: int, profiles: Profiles | None = None,
                         ) -> tuple[list[float], list[float], list[float], Counter[str]]:
    channel = grpc.aio.insecure_channel(address)
    stub = api_pb2_grpc.APIStub(channel)
    watch = PodWatch(stub)
    await watch.start()
    client = podman.PodmanClient(base_url=lab.nodes[NODE].url)
    try:
        await stub.Create(api_pb2.CreateRequest(object=wrap(pod("warm-up"))))  # pulls the image once
        await watch.wait("warm-up", is_running(0), timeout=PHASE_TIMEOUT)
        await asyncio.to_thread(podman_run_once, client, "peer-warm-up")  # the peer's warm-up, the same
        starts, run_times = [], []
        failures = Counter[str]()
        for i in range(runs):  # interleaved: pykube, peer, pykube, peer, ...
            sent = time.monotonic()
            await stub.Create(api_pb2.CreateRequest(object=wrap(pod(f"start-{i}"))))
            try:
                starts.append(await watch.wait(f"start-{i}", is_running(0)) - sent)
            except TimeoutError:  # a failure: an infinite time, counted
                failures["pod_start"] += 1
            run_times.append(await asyncio.to_thread(podman_run_once, client, f"peer-run-{i}"))
        victims = [f"start-{i}" for i in range(min(runs, kills))]
        extra = [f"heal-{i}" for i in range(kills - len(victims))]
        for name in extra:
            await stub.Create(api_pb2.CreateRequest(object=wrap(pod(name))))
        for name in extra:
            await watch.wait(name, is_running(0), timeout=PHASE_TIMEOUT)
        if extra:
            await asyncio.sleep(SETTLE)
        heals = []
        for name in victims + extra:
            status = watch.latest[name].status.container_statuses[0]
            container = client.containers.get(status.container_id.split("://", 1)[1])
            killed = time.monotonic()
            await asyncio.to_thread(container.kill)
            try:
                heals.append(await watch.wait(name, is_running(1)) - killed)
            except TimeoutError:
                failures["kill_to_running"] += 1
        if profiles is not None:  # the same Pod starts again, not timed, under py-spy
            with profiles:
                for i in range(runs):
                    await stub.Create(api_pb2.CreateRequest(object=wrap(pod(f"profiled-{i}"))))
                    await watch.wait(f"profiled-{i}", is_running(0), timeout=PHASE_TIMEOUT)
        return starts, run_times, heals, failures
    finally:
        await watch.stop()
        client.close()
        await channel.close()


def podman_run_once(client: podman.PodmanClient, name: str) -> float:
    """The peer: `podman run -d` of the same image, from the call sent to its return (the
    container running); removed afterwards, untimed."""
    began = time.monotonic()
    container = client.containers.run(IMAGE, detach=True, name=name)
    elapsed = time.monotonic() - began
    container.remove(force=True)
    return elapsed


def podman_restart_peer(lab: NodeLab, runs: int) -> list[float] | None:
    """Podman's own --restart=always: kill → running again (None if Podman won't restart it here)."""
    client = podman.PodmanClient(base_url=lab.nodes[NODE].url)
    container = client.containers.run(IMAGE, detach=True, name="peer-restart", restart_policy={"Name": "always"})
    times = []
    try:
        for _ in range(runs):
            container.reload()
            before = container.attrs["State"]["StartedAt"]
            killed = time.monotonic()
            container.kill()
            deadline = killed + 10  # when it works it takes well under a second
            while True:
                container.reload()
                state = container.attrs["State"]
                if state.get("Running") and state["StartedAt"] != before:
                    times.append(time.monotonic() - killed)
                    break
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.005)
    finally:
        container.remove(force=True)
        client.close()
    return times


def podman_start_peer(lab: NodeLab, runs: int) -> list[float]:
    """The floor under any restart: kill a container, then `podman start` it at once."""
    client = podman.PodmanClient(base_url=lab.nodes[NODE].url)
    container = client.containers.run(IMAGE, detach=True, name="peer-start")
    times = []
    try:
        for _ in range(runs):
            killed = time.monotonic()
            container.kill()
            container.wait(condition="exited")
            container.start()
            times.append(time.monotonic() - killed)
    finally:
        container.remove(force=True)
        client.close()
    return times


def summary(label: str, values: Sequence[float], qs: Sequence[int] = (50, 95)) -> str:
    figures = "   ".join(f"p{q} {percentile(values, q) * 1000:7.1f} ms" for q in qs)
    return f"{label:<52} n={len(values):<3} {figures}"




def run(runs: int, kills: int, out: Path | None, quick: bool, profile: Path | None = None) -> int:
    problems = environment_problems()
    if problems:
        print("bench.kubelet cannot run here: " + "; ".join(problems), file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pkb-") as tmp:
        work = Path(tmp)
        lab = NodeLab(work / "lab", node_names=(NODE,)).start()
        apiserver = ipam = kubelet = None
        try:
            apiserver, address = start_apiserver(work)
            asyncio.run(wait_until(lambda: apiserver_healthy(address), apiserver, 20))
            ipam = start_component(work, "controller-manager", "controllers.main", address, "--controllers", "nodeipam")
            asyncio.run(wait_until(log_says(ipam, "controller-manager running"), ipam, 20))
            kubelet = start_kubelet(work, address, lab)
            try:
                profiles = None if profile is None else Profiles(
                    profile, "kubelet-pod_start", {"kubelet": kubelet.pid, "apiserver": apiserver.pid}, idle=True)
                starts, run_times, heals, failures = asyncio.run(asyncio.wait_for(
                    kubelet_phases(address, lab, runs, kills, profiles), PHASE_TIMEOUT * 4 + 5 * kills))
            except Exception:
                print(f"kubelet log (tail):\n{kubelet.log_tail(40)}", file=sys.stderr)
                raise
            restart_times = podman_restart_peer(lab, kills)
            start_times = podman_start_peer(lab, kills)
        finally:
            for process in (kubelet, ipam, apiserver):
                if process is not None:
                    process.stop()
            lab.cleanup()
    print(summary("pykube: Pod bound → Running (cached image)", starts))
    print(summary("peer: podman run -d (same image, same node)", run_times))
    print(summary("pykube: podman kill → Running again", heals, (50, 95, 99)))
    if restart_times is None:
        print("peer: podman --restart=always did not restart the killed container here; skipped")
    else:
        print(summary("peer: podman --restart=always, kill → running", restart_times))
    print(summary("peer: podman kill, wait, podman start (scripted)", start_times))
    restart_peer = ("podman --restart=always", restart_times) if restart_times else \
        ("podman kill+wait+start", start_times)
    results = (latency_records("kubelet.pod_start", starts, failures["pod_start"], (50, 95), "ms",
                               "podman run -d", run_times)
               + latency_records("kubelet.kill_to_running", heals, failures["kill_to_running"], (50, 95, 99), "ms",
                                 *restart_peer))
    print_table(results)
    if profile is not None:
        doc = profile / "profile-kubelet.md"
        doc.write_text(profile_summary(sorted(profile.glob("kubelet-pod_start-*.folded")),
                               f"Profiles of bench.kubelet: {runs} Pod starts on real Podman (waiting threads included)"))
        print(f"profiles summarised in {doc}")
    if out is not None:
        conditions = {"mode": mode(quick), "runs": runs, "kills": kills}
        print(f"results appended to {append_results(out, results, conditions)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kubelet", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="Pod starts, and peer `podman run`s (default %(default)s)")
    parser.add_argument("--kills", type=int, default=50,
                        help="container kills for self-heal, each of a different Pod (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="5 Pod starts and 10 kills")
    parser.add_argument("--out", type=Path, help="append records to DIR/results.json")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="after the timed phases, RUNS more Pod starts under py-spy (kubelet and apiserver, "
                             "waiting threads included); folded stacks and their summary into DIR")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.kills = 5, 10
    return run(args.runs, args.kills, args.out, args.quick, args.profile)


if __name__ == "__main__":
    sys.exit(main())
